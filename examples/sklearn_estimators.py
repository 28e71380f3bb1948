"""symbnn behind scikit-learn's interface: BNNRegressor in a Pipeline, cross-validated.

A Bayesian MLP is one estimator among others: ``fit`` samples the posterior with NUTS,
``predict`` averages the network over every draw, ``predict(X, return_std=True)`` adds the
predictive standard deviation (the spread of the networks and the noise). The script

* cross-validates ``StandardScaler -> BNNRegressor`` on scikit-learn's diabetes data (R^2 per fold);
* fits it once and prints the predictive mean and standard deviation at a few test rows, and the
  coverage of the central 95 % predictive interval on the held-out rows;
* fits ``BNNClassifier`` on the wine data and prints its test accuracy and the mean probability
  it gives the true class.

Run ``python examples/sklearn_estimators.py`` (a few minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_diabetes, load_wine
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from symbnn.cli import count, widths
from symbnn.sklearn import BNNClassifier, BNNRegressor


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=count(1), default=2, help="chains per fit")
    parser.add_argument("--warmup", type=count(0), default=300, help="warm-up steps per chain")
    parser.add_argument("--draws", type=count(1), default=200, help="kept draws per chain")
    parser.add_argument("--widths", type=widths, default="8",
                        help="hidden units per tanh layer, e.g. 8 or 8,8")
    parser.add_argument("--folds", type=count(2), default=3, help="cross-validation folds")
    parser.add_argument("--seed", type=count(0), default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = dict(hidden_layer_sizes=args.widths, num_chains=args.chains,
                    num_warmup=args.warmup, num_draws=args.draws, random_state=args.seed,
                    verbose=not args.quiet)
    x, y = load_diabetes(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), BNNRegressor(**settings))

    print("== cross-validation (diabetes, StandardScaler -> BNNRegressor)")
    scores = cross_val_score(pipe, x, y, cv=args.folds)
    print("R^2 per fold: " + " ".join(f"{s:.3f}" for s in scores) + f"; mean {scores.mean():.3f}")

    print("\n== predictive mean and sd on held-out rows")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=args.seed)
    pipe.fit(x_tr, y_tr)
    mean, std = pipe.predict(x_te, return_std=True)
    for i in range(3):
        print(f"row {i}: y = {y_te[i]:.1f}, predicted {mean[i]:.1f} +- {std[i]:.1f}")
    covered = np.mean(np.abs(y_te - mean) <= 1.96 * std)
    print(f"coverage of the 95% predictive interval: {covered:.3f}")

    print("\n== classification (wine, 3 classes)")
    x, y = load_wine(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=args.seed)
    clf = make_pipeline(StandardScaler(), BNNClassifier(**settings)).fit(x_tr, y_tr)
    proba = clf.predict_proba(x_te)
    print(f"test accuracy: {clf.score(x_te, y_te):.3f}; mean probability of the true class: "
          f"{proba[np.arange(len(y_te)), y_te].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
