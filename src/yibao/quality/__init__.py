"""Data quality (数据质量): the contract checks of a load, as engine-neutral pipelines."""
