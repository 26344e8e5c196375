#!/usr/bin/env Rscript
## Reference maximum log-likelihoods from R/flexmix for gated mixtures of
## linear regressions (mixture-of-experts with multinomial-logit gate):
##
##   flexmix(y ~ x, k = K, model = FLXMRglm(family = "gaussian"),
##           concomitant = FLXPmultinom(~ x),
##           control = list(minprior = 0, tolerance = 1e-10, iter.max = 5000))
##
## Many random restarts (flexmix's default random initialisation: random hard
## assignment -> posteriors 0.9 / 0.1) per (dataset, K).  Restart i uses
## set.seed(SEED + i), so results do not depend on the number of cores.
##
## Run from the repository root:   Rscript benchmarks/flexmix_reference.R
## Optional environment variables:
##   FLX_NREP          restarts per case                (default 200)
##   FLX_NREP_MCYCLE3  restarts for mcycle K=3          (default 8 + 2 fixed extra seeds; each
##                     non-converging restart runs the full 5000 EM iterations,
##                     ~35 s, so this case dominates the run time)
##   FLX_CORES         parallel workers (mclapply)      (default min(2, cores))
##   FLX_DATA_DIR      directory with the CSV files
##
## Notes on what flexmix computes (flexmix 2.3-x source):
##  * sigma M-step (FLXMRglm gaussian, z@fit):
##      fit <- lm.wfit(x, y, w = w, offset = offset)
##      sigma = sqrt(sum(fit$weights * fit$residuals^2 / mean(fit$weights)) /
##                   (nrow(x) - fit$rank))
##    i.e. sigma^2 = [sum(w r^2) / sum(w)] * n / (n - p)   (n = all rows),
##    NOT the weighted MLE sum(w r^2)/sum(w).  Hence flexmix's fixed point is
##    slightly below the true MLE; the "MLE-polished" column below continues
##    flexmix's best fit with an exact EM (MLE sigma, fully converged gate).
##  * gate M-step: nnet.default(..., softmax = TRUE, rang = 0) refitted from 0
##    each iteration (BFGS, maxit = 100, reltol = 1e-8).
##  * logLik(fit) = llh of the last EM iteration
##      = sum_i log sum_k prior_ik * dnorm(y_i, x_i'b_k, sigma_k)
##    (log_row_sums of component log-densities + log(prior)).
##  * parameters(fit, which = "concomitant") comes from a separate
##    nnet::multinom() refit on the final posteriors, so the log-likelihood
##    recomputed from the reported parameters can differ from logLik(fit)
##    (column ll_reported_params).
##  * mcycle K = 3: the gate wants to become a step function (coefficients
##    -> infinity), the likelihood supremum is not attained, and flexmix's
##    truncated nnet gate M-step makes the EM non-monotone: logLik(fit)
##    depends on the iteration at which it stops (e.g. seed 900001:
##    -578.824 after 5000 iterations, -579.045 after 20000).  Do not use this
##    case as a tight reference.

suppressPackageStartupMessages({
  library(flexmix)
  library(parallel)
})

SEED      <- 20240501L
NREP      <- as.integer(Sys.getenv("FLX_NREP", "200"))
NREP_MC3  <- as.integer(Sys.getenv("FLX_NREP_MCYCLE3", "8"))
NCORES    <- as.integer(Sys.getenv("FLX_CORES", as.character(min(2L, detectCores()))))
if (.Platform$OS.type == "windows") NCORES <- 1L
TOL_COUNT <- 0.05
CTRL      <- list(minprior = 0, tolerance = 1e-10, iter.max = 5000)

RNGkind("Mersenne-Twister", "Inversion", "Rejection")

data_dir <- Sys.getenv("FLX_DATA_DIR", "")
if (data_dir == "") {
  cand <- c("skmoe/datasets/data", "../skmoe/datasets/data", "/work/shared/data")
  data_dir <- cand[file.exists(file.path(cand, "mcycle.csv"))][1]
}
if (is.na(data_dir)) stop("data directory not found; set FLX_DATA_DIR")
rd <- function(f) read.csv(file.path(data_dir, f))
mcycle <- rd("mcycle.csv")
tone   <- rd("tonedata.csv")
npreg  <- rd("NPreg.csv")

cases <- list(
  list(name = "mcycle", K = 2, f = accel ~ times,        g = ~ times,               data = mcycle, nrep = NREP),
  list(name = "mcycle", K = 3, f = accel ~ times,        g = ~ times,               data = mcycle, nrep = NREP_MC3,
       ## two extra starts found in a separate 200-seed screen (seeds 900001..900200)
       ## that reach the rarer, better basin (~1% of random starts)
       extra_seeds = c(900001L, 900055L)),
  list(name = "tone",   K = 2, f = tuned ~ stretchratio, g = ~ stretchratio,        data = tone,   nrep = NREP),
  list(name = "tone",   K = 3, f = tuned ~ stretchratio, g = ~ stretchratio,        data = tone,   nrep = NREP),
  list(name = "NPreg",  K = 2, f = yn ~ x + I(x^2),      g = ~ x + I(x^2),          data = npreg,  nrep = NREP),
  list(name = "NPreg",  K = 3, f = yn ~ x + I(x^2),      g = ~ x + I(x^2),          data = npreg,  nrep = NREP)
)

fit_one <- function(cs, seed) {
  set.seed(seed)
  tryCatch(flexmix(cs$f, data = cs$data, k = cs$K,
                   model = FLXMRglm(family = "gaussian"),
                   concomitant = FLXPmultinom(cs$g), control = CTRL),
           error = function(e) NULL)
}

## log-likelihood recomputed from the *reported* parameters
## (parameters(fit) and parameters(fit, which = "concomitant"))
ll_from_params <- function(fit, cs) {
  X <- model.matrix(cs$f, cs$data); y <- model.response(model.frame(cs$f, cs$data))
  Z <- model.matrix(cs$g, cs$data)
  P <- parameters(fit); G <- parameters(fit, which = "concomitant")
  eta <- Z %*% G; eta <- eta - apply(eta, 1, max)
  lp <- eta - log(rowSums(exp(eta)))
  p <- nrow(P) - 1
  ld <- sapply(seq_len(ncol(P)), function(k)
    dnorm(y, X %*% P[1:p, k], P[p + 1, k], log = TRUE))
  m <- lp + ld; mx <- apply(m, 1, max)
  sum(mx + log(rowSums(exp(m - mx))))
}

## Exact EM (weighted-MLE sigma, gate fitted to convergence by BFGS with warm
## start) started from flexmix's best posterior.  Not flexmix: for comparison
## with an MLE implementation only.
mle_polish <- function(fit, cs, maxit = 80, tol = 1e-12) {
  X <- model.matrix(cs$f, cs$data); y <- model.response(model.frame(cs$f, cs$data))
  Z <- model.matrix(cs$g, cs$data); K <- cs$K; q <- ncol(Z)
  post <- fit@posterior$scaled
  B <- matrix(0, q, K - 1)
  gate_lp <- function(B) {
    eta <- cbind(0, Z %*% B); eta <- eta - apply(eta, 1, max)
    eta - log(rowSums(exp(eta)))
  }
  llh_old <- -Inf
  for (it in seq_len(maxit)) {
    co <- matrix(0, ncol(X), K); s2 <- numeric(K)
    for (k in 1:K) {
      w <- post[, k]
      wf <- lm.wfit(X, y, w)
      co[, k] <- wf$coefficients
      s2[k] <- sum(w * (y - X %*% co[, k])^2) / sum(w)
    }
    obj <- function(b) -sum(post * gate_lp(matrix(b, q)))
    grd <- function(b) {
      pr <- exp(gate_lp(matrix(b, q)))
      -as.vector(crossprod(Z, (post - pr)[, -1, drop = FALSE]))
    }
    B <- matrix(optim(as.vector(B), obj, grd, method = "BFGS",
                      control = list(maxit = 200, reltol = 1e-14))$par, q)
    lp <- gate_lp(B)
    m <- lp + sapply(1:K, function(k) dnorm(y, X %*% co[, k], sqrt(s2[k]), log = TRUE))
    mx <- apply(m, 1, max); lse <- mx + log(rowSums(exp(m - mx)))
    llh <- sum(lse)
    post <- exp(m - lse)
    conv <- abs(llh - llh_old) < tol * (abs(llh) + 0.1)
    if (conv) break
    llh_old <- llh
  }
  list(llh = llh, iter = it, conv = conv, sigma = sqrt(s2), coef = co, gate = B)
}

## worker: only a small summary travels back from the forked processes
run_one <- function(cs, seed) {
  f <- fit_one(cs, seed)
  if (is.null(f)) return(c(ok = 0, k = NA, ll = NA, conv = NA, iter = NA))
  c(ok = 1, k = f@k, ll = as.numeric(logLik(f)), conv = f@converged, iter = f@iter)
}

t_start <- Sys.time()
summ <- list(); best_fits <- list()
for (ci in seq_along(cases)) {
  cs <- cases[[ci]]
  t0 <- Sys.time()
  seeds <- c(SEED + seq_len(cs$nrep), cs$extra_seeds)
  res <- if (NCORES > 1)
    mclapply(seeds, function(s) run_one(cs, s), mc.cores = NCORES)
  else lapply(seeds, function(s) run_one(cs, s))
  res <- do.call(rbind, res)
  ok <- res[, "ok"] == 1
  valid <- ok & res[, "k"] %in% cs$K
  ll <- ifelse(valid, res[, "ll"], NA)
  conv <- res[, "conv"] == 1
  ib <- which.max(ll)
  best <- fit_one(cs, seeds[ib])            # deterministic refit of the best seed
  stopifnot(isTRUE(all.equal(as.numeric(logLik(best)), ll[ib], tolerance = 1e-12)))
  pol <- mle_polish(best, cs)
  summ[[ci]] <- data.frame(
    dataset = cs$name, K = cs$K, restarts = length(seeds), errors = sum(!ok),
    dropped = sum(ok & !valid), valid = sum(valid),
    notconv = sum(valid & !conv, na.rm = TRUE),
    best_logLik = sprintf("%.8f", ll[ib]),
    n_within = sum(ll >= ll[ib] - TOL_COUNT, na.rm = TRUE),
    best_seed = seeds[ib], iter = best@iter, conv = best@converged,
    df = attr(logLik(best), "df"),
    ll_reported_params = sprintf("%.8f", ll_from_params(best, cs)),
    mle_polished = sprintf("%.8f%s", pol$llh, if (pol$conv) "" else " (not conv.)"),
    stringsAsFactors = FALSE)
  best_fits[[ci]] <- list(cs = cs, fit = best, ll = ll, pol = pol)
  cat(sprintf("[%s K=%d] %d restarts in %.1f s\n", cs$name, cs$K, length(seeds),
              as.numeric(difftime(Sys.time(), t0, units = "secs"))))
}

options(width = 200)
cat("\n==================== flexmix", as.character(packageVersion("flexmix")),
    "reference log-likelihoods ====================\n")
cat("control: minprior=0, tolerance=1e-10, iter.max=5000; base seed", SEED,
    "; n_within = valid restarts with logLik >= best -", TOL_COUNT, "\n\n")
tab <- do.call(rbind, summ)
print(tab[, c("dataset", "K", "restarts", "errors", "dropped", "valid", "notconv",
              "best_logLik", "n_within", "best_seed", "iter", "conv", "df")],
      row.names = FALSE)
cat("\nbest_logLik       = logLik(fit) of the best flexmix restart\n")
cat("ll_reported_params = log-lik recomputed from parameters(fit) + concomitant coef\n")
cat("mle_polished       = exact EM (MLE sigma) continued from the best flexmix fit (NOT flexmix)\n\n")
print(tab[, c("dataset", "K", "best_logLik", "ll_reported_params", "mle_polished")],
      row.names = FALSE)

for (b in best_fits) {
  cat(sprintf("\n---------------- %s, K = %d  (best logLik %.8f) ----------------\n",
              b$cs$name, b$cs$K, as.numeric(logLik(b$fit))))
  cat("distinct local optima (logLik rounded to 2 dp : count):\n")
  print(table(round(b$ll, 2), useNA = "ifany"))
  cat("\nparameters(fit)  [expert coefficients; last row = sigma]:\n")
  print(parameters(b$fit), digits = 10)
  cat("\nparameters(fit, which = \"concomitant\")  [gate coefficients, comp 1 = reference]:\n")
  print(parameters(b$fit, which = "concomitant"), digits = 10)
  cat("\nprior (mean posterior):", format(b$fit@prior, digits = 8), "\n")
  cat("sigma per component:", format(parameters(b$fit)[nrow(parameters(b$fit)), ], digits = 10), "\n")
  cat(sprintf("MLE-polished (not flexmix): logLik %.8f after %d EM iterations%s; sigma = %s\n",
              b$pol$llh, b$pol$iter, if (b$pol$conv) "" else " (NOT converged)", paste(format(b$pol$sigma, digits = 8), collapse = ", ")))
}
cat(sprintf("\nTotal run time: %.1f s (%d cores)\n",
            as.numeric(difftime(Sys.time(), t_start, units = "secs")), NCORES))
