"""The design's `POST /v1/deals/score` in FastAPI (issue 18's API reference), run by
`benches/whole_process.rs` under uvicorn with 2 workers:

    REF_MODEL=model.pkl REF_HISTORY=deals.csv REF_DB=audit.db REF_JWT_SECRET=... \
        uvicorn api:app --workers 2 --port P

Per request, as SkyGeni does: the bearer token is verified (HS256, PyJWT), the body validated
(pydantic), the deal scored with the GradientBoosting model from `reference.py` (one
predict_proba call for the deal and its 11 "feature at its mean" variants), the top 3 factors,
recommendations and 3 similar won deals added, and one audit row written to SQLite (WAL).
"""
import datetime as dt
import json
import os
import sqlite3
import uuid
from typing import Optional

import jwt
import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

import reference as ref

SECRET = os.environ["REF_JWT_SECRET"]
BUNDLE = ref.load_bundle(os.environ["REF_MODEL"])
STATS = BUNDLE["stats"]
MODEL = BUNDLE["model"]
MEANS = BUNDLE["means"]

# Won deals per industry for the similar-deals lookup (loaded once per worker).
_history = pd.read_csv(os.environ["REF_HISTORY"])
_won = _history[_history["outcome"] == "Won"]
WON = {
    ind: (g["deal_id"].to_numpy(), g["deal_amount"].to_numpy(dtype=float))
    for ind, g in _won.groupby("industry")
}

DB = sqlite3.connect(
    os.environ["REF_DB"], timeout=5.0, check_same_thread=False, isolation_level=None
)
DB.execute("PRAGMA journal_mode=WAL")
DB.execute("PRAGMA synchronous=NORMAL")
DB.execute("PRAGMA busy_timeout=5000")
DB.execute(
    "CREATE TABLE IF NOT EXISTS audit_log (audit_id TEXT PRIMARY KEY, tenant_id TEXT, at TEXT,"
    " actor TEXT, action TEXT, target TEXT, detail TEXT)"
)

app = FastAPI()


class ScoreRequest(BaseModel):
    deal_id: str = Field(min_length=1, max_length=64)
    deal_amount: float = Field(gt=0)
    industry: str
    product_type: str
    lead_source: str
    region: str
    created_date: dt.date
    deal_stage: str
    sales_cycle_days: Optional[int] = None
    as_of: Optional[dt.date] = None


def caller(authorization: str = Header(...)) -> dict:
    if not authorization.startswith("Bearer "):
        raise HTTPException(401, {"error": "unauthorized", "message": "Invalid or expired JWT token"})
    try:
        return jwt.decode(authorization[7:], SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, {"error": "unauthorized", "message": "Invalid or expired JWT token"})


def feature_row(req: ScoreRequest, as_of: dt.date) -> np.ndarray:
    rates = [STATS["rates"][c].get(getattr(req, c), STATS["overall"]) for c in ref.SEGMENTS]
    amount = min(req.deal_amount, STATS["amount_cap"])
    days = float(req.sales_cycle_days if req.sales_cycle_days is not None
                 else (as_of - req.created_date).days)
    month = req.created_date.month
    return np.array([
        *rates, sum(rates) / 4, np.log1p(amount), float(amount > STATS["large"]),
        days / STATS["median_cycle"], float(days > STATS["long_cycle"]),
        float(month >= 10), float(month % 3 == 0),
    ])


RECOMMEND = {
    "deal_age": ("this_week", "Create a timeline with milestones", "Long sales cycle"),
    "long_cycle": ("this_week", "Create a timeline with milestones", "Long sales cycle"),
    "lead_source": ("this_week", "Engage the partner account manager", "Lead source converts lower"),
    "industry": ("ongoing", "Provide case studies from this industry", "Low segment win rate"),
}


@app.post("/v1/deals/score")
def score(req: ScoreRequest, claims: dict = Depends(caller)):
    as_of = req.as_of or dt.date.today()
    x = feature_row(req, as_of)
    variants = np.tile(x, (len(x) + 1, 1))
    for j in range(len(x)):
        variants[j + 1, j] = MEANS[j]
    p = MODEL.predict_proba(variants)[:, 1]
    p_lost = float(p[0])
    impacts = (p[1:] - p_lost) * 100.0
    top = np.argsort(impacts)[:3]
    risk = int(round(p_lost * 100))
    category = str(ref.categorize(np.array([risk]))[0])
    factors = [
        {"factor": ref.LABELS[ref.FEATURES[j]], "impact": round(float(-impacts[j]) / 100, 4),
         "description": f"{ref.LABELS[ref.FEATURES[j]]} changes the win probability by {impacts[j]:+.1f} pp"}
        for j in top
    ]
    recs = []
    if category == "critical":
        recs.append({"priority": "immediate", "action": "Schedule executive sponsor call within 24 hours",
                     "rationale": "Critical risk requires senior involvement"})
    for f in factors:
        r = RECOMMEND.get(f["factor"])
        if r:
            recs.append({"priority": r[0], "action": r[1], "rationale": r[2]})
    ids, amounts = WON.get(req.industry, (np.array([]), np.array([])))
    nearest = np.argsort(np.abs(amounts - req.deal_amount))[:3]
    similar = [
        {"deal_id": str(ids[i]), "outcome": "won",
         "similarity_score": round(1.0 - abs(amounts[i] - req.deal_amount) / max(amounts[i], req.deal_amount), 2)}
        for i in nearest
    ]
    DB.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)",
        (str(uuid.uuid4()), claims.get("tenant_id"), dt.datetime.now(dt.timezone.utc).isoformat(),
         claims.get("sub"), "deal.score", req.deal_id,
         json.dumps({"deal_source": "request", "risk_score": risk})),
    )
    return {
        "deal_id": req.deal_id, "risk_score": risk, "risk_category": category,
        # A fixed confidence: the reference does not model it (SkyGeni derives it from skill).
        "win_probability": round(1.0 - p_lost, 4), "confidence": 0.85,
        "risk_factors": factors, "recommendations": recs, "similar_deals": similar,
        "scored_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_version": BUNDLE["version"],
    }
