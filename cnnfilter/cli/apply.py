"""`cnnfilter apply` and `cnnfilter kernels` (being written)."""
