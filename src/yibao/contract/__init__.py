"""The data contract (数据合同): one schema per table, loaders' readers and checks, policy files and their
parameter tables, the vocabulary, the error base. Import from the modules (``yibao.contract.schema`` …)."""

__all__ = ["schema", "readers", "validate", "reasons", "errors", "params", "policyfile", "vocab", "mapping",
           "optional", "derived", "privacy", "standards", "docs"]
