import MeterlineCore

/// The embedded default of `meterline run --embedded`: the text of examples/meterline.yaml, compiled in so
/// the quick start works from any directory. A test keeps the two identical.
public enum EmbeddedDefaults {
    public static let configFileName = "examples/meterline.yaml"
    public static let configYAML = #"""
# Meterline example configuration: the embedded default of `meterline run --embedded`.
# Field names follow DESIGN §6; schemas/config.schema.json documents every field.
meters:                                  # OpenMeter's meter format, loads unchanged
  - slug: tokens
    eventType: llm_tokens
    aggregation: SUM
    valueProperty: $.tokens
    groupBy: { model: $.model }
    windowSize: HOUR
  - slug: api_calls
    eventType: api_request
    aggregation: COUNT
    windowSize: HOUR

priceBooks:
  - id: standard
    version: 1
    currency: USD
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - meter: tokens
        model: graduated
        includedQuantity: "10000"
        tiers:
          - { upTo: "1000000", unitAmount: "0.000004", flatAmount: "0" }
          - { upTo: null,      unitAmount: "0.000002" }
      - { meter: api_calls, model: per_unit, unitAmount: "0.0004" }
  - id: europe
    version: 1
    currency: EUR
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - meter: tokens
        model: volume
        minimum: "25.00"
        tiers:
          - { upTo: "500000", unitAmount: "0.000005", flatAmount: "5.00" }
          - { upTo: null,     unitAmount: "0.000003", flatAmount: "0" }
      - { meter: api_calls, model: package, packageSize: "1000", packageAmount: "0.35" }

customers:
  - { subject: acme, entity: us-inc, priceBook: standard, billingAnchorDay: 1 }
  - { subject: globex, entity: eu-gmbh, priceBook: europe, billingAnchorDay: 1 }
  # Pattern contracts: every subject with this prefix (the synthetic workload's customers).
  - { subject: "us-cust-*", entity: us-inc, priceBook: standard }
  - { subject: "eu-cust-*", entity: eu-gmbh, priceBook: europe }

entities:
  - id: us-inc
    currency: USD
    accounts: { unbilledReceivable: "1210", usageRevenue: "4010" }
    erp: { netsuiteSubsidiary: "US Inc", oracleLedger: "US Primary Ledger", sapCompanyCode: "1000" }
  - id: eu-gmbh
    currency: EUR
    accounts: { unbilledReceivable: "1210", usageRevenue: "4020", revenueByMeter: { api_calls: "4021" } }
    erp: { netsuiteSubsidiary: "EU GmbH", oracleLedger: "EU Primary Ledger", sapCompanyCode: "2000" }

settings:
  allowedLateness: 5m
  correctionHorizon: 3d
  dedupHorizon: 35d
  rounding: half_away_from_zero

journal:
  detail: customer

"""#
}
