"""The shapes of ``/predict``'s request and answers, as pydantic models: they document the API (``/docs``,
``/openapi.json``), with examples. The body itself is read and checked by `train.inference.serve.requests`, which
refuses an oversized body before reading it all, something a validated model cannot do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """One text, or several: give ``text`` or ``texts``, not both."""

    text: str | None = Field(None, description="one text to classify (not empty; at most --max-chars characters)",
                             examples=["这家店的菜很好吃，下次还来"])
    texts: list[str] | None = Field(None, description="several texts, answered in the same order (at most --max-texts)",
                                    examples=[["这家店的菜很好吃，下次还来", "质量太差了，再也不买了"]])

    model_config = {"json_schema_extra": {"examples": [{"text": "这家店的菜很好吃，下次还来"},
                                                       {"texts": ["这家店的菜很好吃，下次还来", "质量太差了，再也不买了"]}]}}


class LabelScore(BaseModel):
    """A predicted label and its score."""

    label: str
    score: float | None = Field(description="a probability, or for a TF-IDF + LinearSVC run a margin")


class Prediction(BaseModel):
    """The answer for one text."""

    text: str
    label: str = Field(description="the best label")
    score: float | None = Field(description="its probability (or margin)")
    labels: list[LabelScore] = Field(description="the predicted labels, best first: one for a single-label run, the set "
                                     "the thresholds choose for a multi-label run")
    probabilities: dict[str, float | None] | None = Field(None, description="every label's probability (runs that give "
                                                          "probabilities only)")


class PredictResponse(BaseModel):
    """The answers, one per text, in the order they were sent."""

    model: str = Field(description="the run's --model", examples=["lstm"])
    score: Literal["probability", "margin"]
    multi_label: bool
    predictions: list[Prediction]

    model_config = {"json_schema_extra": {"examples": [{
        "model": "lstm", "score": "probability", "multi_label": False,
        "predictions": [{"text": "这家店的菜很好吃，下次还来", "label": "positive", "score": 0.973421,
                         "labels": [{"label": "positive", "score": 0.973421}],
                         "probabilities": {"negative": 0.026579, "positive": 0.973421}}]}]}}


class ErrorResponse(BaseModel):
    """A refused request: what is wrong and what to send instead."""

    error: str = Field(examples=["the body is not valid JSON (Expecting value: line 1 column 1 (char 0)); send "
                                 "{\"text\": \"...\"} or {\"texts\": [\"...\", ...]}"])


class HealthResponse(BaseModel):
    """Whether the server can answer."""

    status: Literal["ok", "unavailable"]
    model_loaded: bool
    worker_running: bool
