"""flexmix's refit() standard errors for a mixture of logistic experts.

Run ``python benchmarks/flexmix_logit_refit.py`` (needs Rscript with the
flexmix package). Writes the data of
``tests/test_classifier.py::logit_regimes`` to a temporary CSV, fits
``flexmix(cbind(y, 1 - y) ~ x1 + x2, k = 2, model = FLXMRglm(family =
"binomial"), concomitant = FLXPmultinom(~ x1 + x2))`` from 30 seeds, and
prints the best logLik, refit()'s parameters and their standard errors: the
reference values the test holds.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_classifier import logit_regimes  # noqa: E402

R_CODE = """
suppressPackageStartupMessages(library(flexmix))
options(digits = 15, width = 200)
d <- read.csv(commandArgs(TRUE)[1])
best <- NULL
for (i in 1:30) {
  set.seed(i)
  m <- try(flexmix(cbind(y, 1 - y) ~ x1 + x2, data = d, k = 2,
                   model = FLXMRglm(family = "binomial"),
                   concomitant = FLXPmultinom(~ x1 + x2),
                   control = list(minprior = 0, tolerance = 1e-10,
                                  iter.max = 5000)), silent = TRUE)
  if (inherits(m, "try-error") || m@k != 2) next
  if (is.null(best) || logLik(m) > logLik(best)) best <- m
}
cat("logLik", format(as.numeric(logLik(best)), digits = 15), "\\n")
r <- refit(best)
print(r@coef, digits = 15)
print(sqrt(diag(r@vcov)), digits = 15)
"""


def main():
    if shutil.which("Rscript") is None:
        print("skipped: Rscript not found")
        return
    X, y = logit_regimes()
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory) / "logit.csv"
        script = Path(directory) / "refit.R"
        np.savetxt(
            data,
            np.column_stack([X, y]),
            delimiter=",",
            header="x1,x2,y",
            comments="",
            fmt="%.17g",
        )
        script.write_text(R_CODE)
        subprocess.run(["Rscript", str(script), str(data)], check=True)


if __name__ == "__main__":
    main()
