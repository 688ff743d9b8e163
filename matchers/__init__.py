"""The linkage core: standardisers, comparisons, scoring and policy rules. Knows nothing of Prefect."""
