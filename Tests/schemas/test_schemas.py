"""Checks the JSON Schemas in schemas/ against the example config, sample outputs and (if present) a real run.

Run from the repository root: python3 -m pytest Tests/schemas
Needs: jsonschema (Draft 2020-12), PyYAML, pytest.
"""
import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
SAMPLES = Path(__file__).resolve().parent / "samples"
OUT = ROOT / "out"
SCHEMA_FILES = ["billing-event.schema.json", "journal-entry.schema.json", "config.schema.json"]


class TextTimestampLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: `effectiveFrom: 2026-01-01T00:00:00Z` stays a string,
    as in Meterline's loader (which reads every scalar as text). Integers and floats still resolve."""


TextTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text):
    return yaml.load(text, Loader=TextTimestampLoader)


def validator(name):
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text()))


def errors(v, instance):
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in v.iter_errors(instance)]


def jsonl(path, limit=None):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            if line.strip():
                yield i + 1, json.loads(line)


def assert_balanced(entry):
    debit = sum(l["debit"] for l in entry["lines"])
    credit = sum(l["credit"] for l in entry["lines"])
    assert debit == credit, f"{entry['journalId']}: debit {debit} != credit {credit}"


# --- the schemas themselves -------------------------------------------------------------------------

@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_2020_12(name):
    schema = json.loads((SCHEMAS / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


# --- config -------------------------------------------------------------------------------------------

def example_config():
    return load_yaml((ROOT / "examples" / "meterline.yaml").read_text())


def test_loader_keeps_timestamps_as_text():
    assert load_yaml("t: 2026-01-01T00:00:00Z\nv: 1\n") == {"t": "2026-01-01T00:00:00Z", "v": 1}


def test_example_config_is_valid():
    assert errors(validator("config.schema.json"), example_config()) == []


def test_config_accepts_quoted_and_unquoted_numbers():
    v = validator("config.schema.json")
    c = example_config()
    c["priceBooks"][0]["version"] = "3"
    c["customers"][0]["billingAnchorDay"] = 31
    c["customers"][1]["billingAnchorDay"] = "15"
    c["priceBooks"][0]["prices"][1]["unitAmount"] = 0.0004
    c["settings"].update({"maxMessageBytes": 65536, "maxDepth": "32", "postingInterval": "6h", "idleTimeout": "300ms"})
    c["kafka"] = {"bootstrap.servers": "localhost:9092", "linger.ms": 5, "enable.idempotence": True}
    c["topics"] = {"usage": "usage", "billing": "billing"}
    assert errors(v, c) == []


def _mutations():
    """(description, function that breaks a copy of the example config)."""
    def m(f):
        def apply(c):
            f(c)
            return c
        return apply
    return [
        ("unknown top-level key", m(lambda c: c.update(plans=[]))),
        ("unknown meter key", m(lambda c: c["meters"][0].update(unit="tokens"))),
        ("bad aggregation", m(lambda c: c["meters"][0].update(aggregation="sum"))),
        ("SUM without valueProperty", m(lambda c: c["meters"][0].pop("valueProperty"))),
        ("bad windowSize", m(lambda c: c["meters"][0].update(windowSize="WEEK"))),
        ("JSONPath without $", m(lambda c: c["meters"][0].update(valueProperty="tokens"))),
        ("no meters", m(lambda c: c.update(meters=[]))),
        ("missing priceBooks", m(lambda c: c.pop("priceBooks"))),
        ("bad model", m(lambda c: c["priceBooks"][0]["prices"][1].update(model="flat"))),
        ("per_unit without unitAmount", m(lambda c: c["priceBooks"][0]["prices"][1].pop("unitAmount"))),
        ("package without packageSize", m(lambda c: c["priceBooks"][1]["prices"][1].pop("packageSize"))),
        ("tier without upTo", m(lambda c: c["priceBooks"][0]["prices"][0]["tiers"][0].pop("upTo"))),
        ("no open tier", m(lambda c: c["priceBooks"][0]["prices"][0]["tiers"][1].update(upTo="2000000"))),
        ("unit price with 13 decimals", m(lambda c: c["priceBooks"][0]["prices"][1].update(unitAmount="0.0000000000001"))),
        ("non-numeric quantity", m(lambda c: c["priceBooks"][0]["prices"][0].update(includedQuantity="10k"))),
        ("lowercase currency", m(lambda c: c["priceBooks"][0].update(currency="usd"))),
        ("effectiveFrom as a date only", m(lambda c: c["priceBooks"][0].update(effectiveFrom="2026-01-01"))),
        ("effectiveTo null", m(lambda c: c["priceBooks"][0].update(effectiveTo=None))),
        ("version as a float string", m(lambda c: c["priceBooks"][0].update(version="1.0"))),
        ("customer without priceBook", m(lambda c: c["customers"][0].pop("priceBook"))),
        ("billingAnchorDay 32", m(lambda c: c["customers"][0].update(billingAnchorDay=32))),
        ("billingAnchorDay '0'", m(lambda c: c["customers"][0].update(billingAnchorDay="0"))),
        ("entity without accounts", m(lambda c: c["entities"][0].pop("accounts"))),
        ("accounts without usageRevenue", m(lambda c: c["entities"][0]["accounts"].pop("usageRevenue"))),
        ("duration without unit", m(lambda c: c["settings"].update(allowedLateness="300"))),
        ("duration with a space", m(lambda c: c["settings"].update(correctionHorizon="3 d"))),
        ("bad rounding", m(lambda c: c["settings"].update(rounding="bankers"))),
        ("maxDepth out of range", m(lambda c: c["settings"].update(maxDepth=1))),
        ("unknown settings key", m(lambda c: c["settings"].update(lateness="5m"))),
        ("bad journal detail", m(lambda c: c["journal"].update(detail="full"))),
        ("unknown topic", m(lambda c: c.update(topics={"events": "x"}))),
        ("kafka value is a list", m(lambda c: c.update(kafka={"bootstrap.servers": ["a", "b"]}))),
    ]


@pytest.mark.parametrize("case,mutate", _mutations(), ids=[d for d, _ in _mutations()])
def test_config_rejects(case, mutate):
    broken = mutate(copy.deepcopy(example_config()))
    assert errors(validator("config.schema.json"), broken), f"schema accepted a config with: {case}"


# --- billing events and journal entries: samples ------------------------------------------------------

@pytest.mark.parametrize("schema,sample", [
    ("billing-event.schema.json", "billing-events.valid.jsonl"),
    ("journal-entry.schema.json", "journal-entries.valid.jsonl"),
])
def test_valid_samples(schema, sample):
    v = validator(schema)
    rows = list(jsonl(SAMPLES / sample))
    assert len(rows) >= 3
    for n, record in rows:
        assert errors(v, record) == [], f"{sample}:{n}"
        if schema.startswith("journal"):
            assert_balanced(record)


def test_valid_billing_samples_cover_every_kind():
    kinds = {r["kind"] for _, r in jsonl(SAMPLES / "billing-events.valid.jsonl")}
    assert kinds == {"usage", "revision", "true_up"}


def _invalid(sample):
    return [(r["case"], r["record"]) for _, r in jsonl(SAMPLES / sample)]


@pytest.mark.parametrize("case,record", _invalid("billing-events.invalid.jsonl"),
                         ids=[c for c, _ in _invalid("billing-events.invalid.jsonl")])
def test_invalid_billing_events(case, record):
    assert errors(validator("billing-event.schema.json"), record), f"schema accepted: {case}"


@pytest.mark.parametrize("case,record", _invalid("journal-entries.invalid.jsonl"),
                         ids=[c for c, _ in _invalid("journal-entries.invalid.jsonl")])
def test_invalid_journal_entries(case, record):
    assert errors(validator("journal-entry.schema.json"), record), f"schema accepted: {case}"


# --- a real run (meterline run --embedded writes out/), if present --------------------------------------

@pytest.mark.parametrize("schema,output", [
    ("billing-event.schema.json", "billing-events.jsonl"),
    ("journal-entry.schema.json", "journal-entries.jsonl"),
])
def test_real_output(schema, output):
    path = OUT / output
    if not path.exists():
        pytest.skip(f"{path} absent (run `meterline run --embedded` to produce it)")
    v = validator(schema)
    for n, record in jsonl(path, limit=1000):
        assert errors(v, record) == [], f"{path}:{n}"
        if schema.startswith("journal"):
            assert_balanced(record)
