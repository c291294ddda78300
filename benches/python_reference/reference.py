"""A straightforward Python implementation of the design's scoring (issue 18's reference).

pandas + numpy for features, scikit-learn's GradientBoostingClassifier for P(lost), written the
way the design's Python services describe it (section 4.2-4.4): 11 features (four segment win
rates with a 10-deal minimum, blended rate, log amount capped at the 99th percentile, large
deal, normalised age, long cycle, Q4, quarter end), categories 0-25/26-50/51-75/76-100, the top 3
factors per deal (impact = change in win probability when the feature is set to its
training mean, vectorised over the whole file); `api.py` adds rule-based recommendations and
similar won deals per request.

It is vectorised where pandas and numpy make that the obvious way to write it; it is not
tuned further (no HistGradientBoostingClassifier, no SHAP, no process pool): the classifier the
issue names, scikit-learn's defaults, one process. Used only by `benches/whole_process.rs`
(SKYGENI_BENCH_PYTHON).

    python reference.py train --history SEED.csv --as-of 2024-06-01 --out model.pkl
    python reference.py score --csv OPEN.csv --out OUT.csv (--model model.pkl | --train SEED.csv) --as-of 2024-06-01

`score` prints `scoring_span_seconds=<s>` (read, features, predict, factors, write; not the
interpreter start or imports) on stderr.
"""
import argparse
import pickle
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier

SEGMENTS = ["industry", "product_type", "lead_source", "region"]
FEATURES = [
    "wr_industry", "wr_product_type", "wr_lead_source", "wr_region", "blended",
    "log_amount", "is_large", "normalized_days", "is_long", "is_q4", "is_quarter_end",
]
LABELS = {
    "wr_industry": "industry", "wr_product_type": "product_type",
    "wr_lead_source": "lead_source", "wr_region": "region", "blended": "segment_mix",
    "log_amount": "deal_size", "is_large": "large_deal", "normalized_days": "deal_age",
    "is_long": "long_cycle", "is_q4": "q4", "is_quarter_end": "quarter_end",
}
MIN_SEGMENT = 10


def closed_history(df: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    df = df.copy()
    df["closed_date"] = pd.to_datetime(df["closed_date"], errors="coerce")
    df = df[df["outcome"].isin(["Won", "Lost"]) & (df["closed_date"] < as_of)]
    return df


def fit_stats(history: pd.DataFrame) -> dict:
    won = (history["outcome"] == "Won").astype(float)
    overall = float(won.mean())
    rates = {}
    for col in SEGMENTS:
        g = won.groupby(history[col]).agg(["mean", "count"])
        rates[col] = g.loc[g["count"] >= MIN_SEGMENT, "mean"].to_dict()
    return {
        "overall": overall,
        "rates": rates,
        "amount_cap": float(history["deal_amount"].quantile(0.99)),
        "large": float(history["deal_amount"].quantile(0.75)),
        "median_cycle": float(history["sales_cycle_days"].median()),
        "long_cycle": float(history["sales_cycle_days"].quantile(0.75)),
    }


def features(df: pd.DataFrame, stats: dict, as_of: pd.Timestamp, closed: bool) -> pd.DataFrame:
    x = pd.DataFrame(index=df.index)
    for col in SEGMENTS:
        x["wr_" + col] = df[col].map(stats["rates"][col]).fillna(stats["overall"]).astype(float)
    x["blended"] = x[["wr_" + c for c in SEGMENTS]].mean(axis=1)
    amount = df["deal_amount"].astype(float).clip(upper=stats["amount_cap"])
    x["log_amount"] = np.log1p(amount)
    x["is_large"] = (amount > stats["large"]).astype(float)
    created = pd.to_datetime(df["created_date"])
    if closed:
        days = df["sales_cycle_days"].astype(float)
    else:
        days = (as_of - created).dt.days.astype(float)
    x["normalized_days"] = days / stats["median_cycle"]
    x["is_long"] = (days > stats["long_cycle"]).astype(float)
    month = created.dt.month
    x["is_q4"] = (month >= 10).astype(float)
    x["is_quarter_end"] = (month % 3 == 0).astype(float)
    return x[FEATURES]


def train(history_csv: str, as_of: pd.Timestamp) -> dict:
    history = closed_history(pd.read_csv(history_csv), as_of)
    stats = fit_stats(history)
    x = features(history, stats, as_of, closed=True)
    y = (history["outcome"] == "Lost").astype(int)
    model = GradientBoostingClassifier(random_state=0).fit(x.to_numpy(), y.to_numpy())
    return {"model": model, "stats": stats, "means": x.mean().to_numpy(), "version": "ref-1"}


def categorize(score: np.ndarray) -> np.ndarray:
    return np.select([score <= 25, score <= 50, score <= 75], ["low", "medium", "high"], "critical")


def score_matrix(bundle: dict, x: np.ndarray):
    """P(lost), risk scores, categories and the top-3 factor indices and impacts (pp)."""
    model = bundle["model"]
    p_lost = model.predict_proba(x)[:, 1]
    # Impact of feature j: the win probability with j at its training mean, minus the deal's.
    impacts = np.empty_like(x)
    for j in range(x.shape[1]):
        xj = x.copy()
        xj[:, j] = bundle["means"][j]
        impacts[:, j] = (model.predict_proba(xj)[:, 1] - p_lost) * 100.0
    # Most risk-raising first: the largest loss of win probability (most negative impact).
    top = np.argsort(impacts, axis=1)[:, :3]
    top_impacts = np.take_along_axis(impacts, top, axis=1)
    risk = np.rint(p_lost * 100).astype(int)
    return p_lost, risk, categorize(risk), top, top_impacts


def score_file(args) -> None:
    as_of = pd.Timestamp(args.as_of)
    bundle = load_bundle(args.model) if args.model else None
    started = time.perf_counter()
    if bundle is None:
        bundle = train(args.train, as_of)
    df = pd.read_csv(args.csv)
    x = features(df, bundle["stats"], as_of, closed=False).to_numpy()
    p_lost, risk, category, top, top_impacts = score_matrix(bundle, x)
    out = pd.DataFrame({
        "deal_id": df["deal_id"],
        "risk_score": risk,
        "risk_category": category,
        "win_probability": np.round(1.0 - p_lost, 4),
    })
    names = np.array([LABELS[f] for f in FEATURES])
    for k in range(3):
        out[f"factor_{k + 1}"] = [
            f"{n}:{v:+.1f}pp" for n, v in zip(names[top[:, k]], top_impacts[:, k])
        ]
    out.to_csv(args.out, index=False)
    print(f"scoring_span_seconds={time.perf_counter() - started:.4f}", file=sys.stderr)


def load_bundle(path: str) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--history", required=True)
    t.add_argument("--as-of", required=True)
    t.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("--csv", required=True)
    s.add_argument("--out", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--model")
    g.add_argument("--train")
    s.add_argument("--as-of", required=True)
    args = p.parse_args()
    if args.cmd == "train":
        with open(args.out, "wb") as f:
            pickle.dump(train(args.history, pd.Timestamp(args.as_of)), f)
    else:
        score_file(args)


if __name__ == "__main__":
    main()
