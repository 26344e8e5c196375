#!/usr/bin/env Rscript
## flexmix's ICL and BIC of the patent model with K = 2 (best of 20 starts),
## for tests/test_families.py::test_icl_matches_flexmix.
## Run from the repository root:   Rscript benchmarks/flexmix_icl.R
suppressPackageStartupMessages(library(flexmix))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
data("patent", package = "flexmix")
best <- NULL
for (i in 1:20) {
  set.seed(i)
  m <- try(flexmix(Patents ~ lgRD, data = patent, k = 2,
                   model = FLXMRglm(family = "poisson"),
                   concomitant = FLXPmultinom(~ RDS),
                   control = list(minprior = 0, tolerance = 1e-12,
                                  iter.max = 5000)), silent = TRUE)
  if (inherits(m, "try-error") || m@k != 2) next
  if (is.null(best) || logLik(m) > logLik(best)) best <- m
}
cat(sprintf("logLik %.10f BIC %.10f ICL %.10f\n", logLik(best), BIC(best),
            ICL(best)))
