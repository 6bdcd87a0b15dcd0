"""fast: padding-free forward paths (training and inference) for registered encoder classes."""

from workbench.fast import architectures  # noqa: F401  (registers BERT, RoBERTa, XLM-R, DistilBERT, MPNet)
