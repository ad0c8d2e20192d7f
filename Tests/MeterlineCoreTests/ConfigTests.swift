import Foundation
import Testing
@testable import MeterlineConfig
@testable import MeterlineCore

// DESIGN §11: one YAML file, every problem reported with file, line:col, path and expectation;
// environment overrides. DESIGN §6 for the contract/price-book/entity cross-references.

enum ConfigFixture {
    /// examples/meterline.yaml, found from this file: Tests/MeterlineCoreTests/ConfigTests.swift → repo root.
    static var examplePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/meterline.yaml").path
    }

    /// A small valid config; `meters`, `books`, `entities`, `customers`, `rest` replace its sections.
    static func yaml(meters: String? = nil, books: String? = nil, entities: String? = nil, customers: String? = nil, rest: String = "") -> String {
        let m = meters ?? """
            meters:
              - { slug: tokens, eventType: llm_tokens, aggregation: SUM, valueProperty: $.tokens }
            """
        let b = books ?? """
            priceBooks:
              - id: standard
                version: 1
                currency: USD
                effectiveFrom: 2026-01-01T00:00:00Z
                prices:
                  - { meter: tokens, model: per_unit, unitAmount: "0.000004" }
            """
        let e = entities ?? """
            entities:
              - id: us-inc
                currency: USD
                accounts: { unbilledReceivable: "1210", usageRevenue: "4010" }
            """
        let c = customers ?? """
            customers:
              - { subject: acme, entity: us-inc, priceBook: standard }
            """
        return [m, b, e, c, rest].joined(separator: "\n") + "\n"
    }

    static func problems(_ text: String, environment: [String: String] = [:]) -> [ConfigProblem] {
        do {
            _ = try ConfigLoader.parse(yaml: text, file: "test.yaml", environment: environment)
            return []
        } catch let e as ConfigError {
            return e.problems
        } catch {
            Issue.record("unexpected error type: \(error)")
            return []
        }
    }

    static func load(_ text: String, environment: [String: String] = [:]) throws -> Configuration {
        do {
            return try ConfigLoader.parse(yaml: text, file: "test.yaml", environment: environment)
        } catch let e as ConfigError {
            Issue.record("config rejected:\n\(e.description)")
            throw e
        }
    }
}

@Suite struct ConfigTests {
    @Test func exampleConfigLoads() throws {
        let path = ConfigFixture.examplePath
        #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        let c = try ConfigLoader.load(path: path, environment: [:])
        #expect(c.meters.map(\.slug) == ["tokens", "api_calls"])
        #expect(c.meters[0].aggregation == .sum && c.meters[0].valueProperty?.text == "$.tokens")
        #expect(c.meters[0].groupBy.map(\.name) == ["model"])
        #expect(c.meters[1].aggregation == .count && c.meters[1].valueProperty == nil)
        #expect(c.priceBooks.books.map(\.id) == ["europe", "standard"])
        #expect(c.contracts.map(\.subject) == ["acme", "globex", "us-cust-*", "eu-cust-*"])
        #expect(c.contracts.map(\.billingAnchorDay) == [1, 1, 1, 1])
        #expect(c.entities.map(\.id) == ["us-inc", "eu-gmbh"])
        #expect(c.entity("eu-gmbh")?.revenueAccount(meter: "api_calls") == "4021")
        #expect(c.entity("eu-gmbh")?.revenueAccount(meter: "tokens") == "4020")
        #expect(c.entity("us-inc")?.erp["sapCompanyCode"] == "1000")
        #expect(c.settings.allowedLatenessMicros == 5 * 60 * 1_000_000)
        #expect(c.settings.correctionHorizonMicros == 3 * UTC.microsPerDay)
        #expect(c.settings.dedupHorizonMicros == 35 * UTC.microsPerDay)
        #expect(c.settings.rounding == .halfAwayFromZero)
        #expect(c.settings.journalDetail == .customer)
        #expect(c.kafka.isEmpty)

        let std = try #require(c.priceBooks.book(id: "standard", at: utc("2026-03-01T00:00:00Z")))
        #expect(std.currency.code == "USD")
        let tokens = try #require(std.price(meter: "tokens", dimensions: [("model", "large")]))
        #expect(tokens.price.includedQuantity == q("10000"))
        #expect(try tokens.price.price(q("2010000")).usageAmount == amt("6"))
        let eu = try #require(c.priceBooks.book(id: "europe", at: utc("2026-03-01T00:00:00Z")))
        #expect(eu.currency.minorUnitDigits == 2 && eu.currency.code == "EUR")
        #expect(eu.price(meter: "tokens", dimensions: [])?.price.minimum == amt("25"))
        #expect(eu.price(meter: "api_calls", dimensions: [])?.price.model == .package(size: q("1000"), amount: amt("0.35")))
        #expect(c.priceBooks.book(id: "standard", at: utc("2025-12-31T23:59:59Z")) == nil)
    }

    @Test func smallConfigLoads() throws {
        let c = try ConfigFixture.load(ConfigFixture.yaml())
        #expect(c.meters.count == 1 && c.contracts.count == 1 && c.entities.count == 1)
        #expect(c.topics == Configuration.Topics())
        #expect(c.settings == EngineSettings())
    }

    /// Several problems at once: all reported, each with file:line:col, its path and what was expected.
    @Test func reportsAllProblemsWithLocations() throws {
        let text = """
            meters:
              - slug: tokens
                eventType: llm_tokens
                aggregation: SUM
                valueProperty: $.tokens
              - slug: calls
                eventType: api_request
                aggregation: SUMM
                colour: blue
            priceBooks:
              - id: standard
                version: 1
                currency: USD
                effectiveFrom: 2026-01-01T00:00:00Z
                prices:
                  - { meter: tokens, model: per_unit, unitAmount: "0.1" }
                  - meter: tokens
                    model: graduated
                    tiers:
                      - { upTo: "ten", unitAmount: "0.1" }
                      - { upTo: null, unitAmount: "0.0000000000001" }
            entities:
              - id: us-inc
                currency: usd
                accounts: { unbilledReceivable: "1210", usageRevenue: "4010" }
            settings:
              allowedLateness: 5 minutes
            """
        let problems = ConfigFixture.problems(text)
        let byPath = Dictionary(problems.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let expected: [(path: String, line: Int, column: Int, mentions: String)] = [
            ("meters[1].aggregation", 8, 18, "expected one of SUM, COUNT"),
            ("meters[1].colour", 9, 5, "unknown field"),
            ("priceBooks[0].prices[1].tiers[0].upTo", 20, 21, "expected a decimal string"),
            ("priceBooks[0].prices[1].tiers[1].unitAmount", 21, 39, "at most 12 fractional digits"),
            ("entities[0].currency", 24, 15, "ISO 4217"),
            ("settings.allowedLateness", 27, 20, "expected a duration"),
        ]
        for e in expected {
            guard let p = byPath[e.path] else {
                Issue.record("no problem reported at \(e.path); got:\n\(problems.map(\.description).joined(separator: "\n"))")
                continue
            }
            #expect(p.file == "test.yaml")
            #expect(p.line == e.line && p.column == e.column, "\(p.description)")
            #expect(p.message.contains(e.mentions), "\(p.description)")
        }
        // The description is "file:line:col path: message".
        if let p = byPath["priceBooks[0].prices[1].tiers[0].upTo"] {
            #expect(p.description.hasPrefix("test.yaml:20:21 priceBooks[0].prices[1].tiers[0].upTo: "), "\(p.description)")
            #expect(p.description.contains("\"ten\""), "\(p.description)")
        }
        for p in problems {
            #expect(p.line > 0 && p.column > 0, "\(p.description)")
        }
    }

    @Test func unknownFieldsAreReported() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(rest: """
            settings:
              allowedLatness: 5m
            journal: { detail: customer, colour: red }
            extras: 1
            """))
        let paths = Set(problems.map(\.path))
        #expect(paths.isSuperset(of: ["settings.allowedLatness", "journal.colour", "$.extras"]), "\(problems)")
        for p in problems where p.path == "settings.allowedLatness" {
            #expect(p.message.contains("unknown field") && p.message.contains("allowedLateness"), "\(p.description)")
        }
        let priceField = ConfigFixture.problems(ConfigFixture.yaml(books: """
            priceBooks:
              - id: standard
                version: 1
                currency: USD
                effectiveFrom: 2026-01-01T00:00:00Z
                prices:
                  - { meter: tokens, model: per_unit, unitAmount: "0.000004", unit_amount: "1" }
            """))
        #expect(priceField.map(\.path) == ["priceBooks[0].prices[0].unit_amount"], "\(priceField)")
    }

    @Test func contractNamingUnknownEntityOrPriceBook() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(customers: """
            customers:
              - { subject: acme, entity: uk-ltd, priceBook: standard }
              - { subject: globex, entity: us-inc, priceBook: premium }
              - { subject: initech, entity: us-inc }
            """))
        let byPath = Dictionary(problems.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["customers[0].entity"]?.message.contains("no entity 'uk-ltd'") == true, "\(problems)")
        #expect(byPath["customers[0].entity"]?.message.contains("us-inc") == true)
        #expect(byPath["customers[0].entity"]?.line == 15)
        #expect(byPath["customers[1].priceBook"]?.message.contains("no price book 'premium'") == true, "\(problems)")
        #expect(byPath["customers[1].priceBook"]?.line == 16)
        #expect(byPath["customers[2].priceBook"]?.message.contains("missing") == true, "\(problems)")
        #expect(problems.count == 3, "\(problems)")
    }

    @Test func priceMeterMustExist() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(books: """
            priceBooks:
              - id: standard
                version: 1
                currency: USD
                effectiveFrom: 2026-01-01T00:00:00Z
                prices:
                  - { meter: token, model: per_unit, unitAmount: "1" }
            """))
        #expect(problems.map(\.path) == ["priceBooks[0].prices[0].meter"], "\(problems)")
        #expect(problems.first?.message.contains("no meter 'token'") == true)
    }

    @Test func currencyMismatchBetweenEntityAndPriceBook() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(entities: """
            entities:
              - id: us-inc
                currency: EUR
                accounts: { unbilledReceivable: "1210", usageRevenue: "4010" }
            """))
        #expect(problems.count == 1, "\(problems)")
        let p = problems.first
        #expect(p?.path == "customers[0]")
        #expect(p?.message.contains("USD") == true && p?.message.contains("EUR") == true, "\(String(describing: p))")
        #expect((p?.line ?? 0) > 0)
    }

    @Test(arguments: ["5 minutes", "5", "m", "-5m", "5min", "1.5h", "5M", ""])
    func badDuration(text: String) {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(rest: "settings:\n  correctionHorizon: \"\(text)\"\n"))
        #expect(problems.map(\.path) == ["settings.correctionHorizon"], "\(text): \(problems)")
        #expect(problems.first?.message.contains("expected a duration") == true)
        #expect(problems.first?.line == 17)
    }

    @Test func goodDurations() throws {
        let c = try ConfigFixture.load(ConfigFixture.yaml(rest: """
            settings:
              allowedLateness: 300ms
              idleTimeout: 45s
              correctionHorizon: 2h
              dedupHorizon: 3d
              postingInterval: 6h
              maxFuture: 1m
              rounding: half_even
              maxDepth: 8
            """))
        #expect(c.settings.allowedLatenessMicros == 300_000)
        #expect(c.settings.idleTimeoutMicros == 45_000_000)
        #expect(c.settings.correctionHorizonMicros == 2 * UTC.microsPerHour)
        #expect(c.settings.dedupHorizonMicros == 3 * UTC.microsPerDay)
        #expect(c.settings.postingIntervalMicros == 6 * UTC.microsPerHour)
        #expect(c.settings.limits.maxFutureMicros == 60_000_000)
        #expect(c.settings.rounding == .halfEven)
        #expect(c.settings.limits.maxDepth == 8)
        // A posting interval must divide a day.
        let p = ConfigFixture.problems(ConfigFixture.yaml(rest: "settings:\n  postingInterval: 7h\n"))
        #expect(p.map(\.path) == ["settings.postingInterval"])
    }

    @Test func kafkaBootstrapServersFromEnvironment() throws {
        let text = ConfigFixture.yaml(rest: """
            kafka:
              bootstrap.servers: file-broker:9092
              client.id: meterline
            """)
        let fromFile = try ConfigFixture.load(text)
        #expect(fromFile.kafka["bootstrap.servers"] == "file-broker:9092")
        let env = ["METERLINE_KAFKA_BOOTSTRAP_SERVERS": "env-broker:9093",
                   "METERLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                   "KAFKA_BOOTSTRAP_SERVERS": "ignored:1", "PATH": "/usr/bin"]
        let overridden = try ConfigFixture.load(text, environment: env)
        #expect(overridden.kafka["bootstrap.servers"] == "env-broker:9093")
        #expect(overridden.kafka["security.protocol"] == "SASL_SSL")
        #expect(overridden.kafka["client.id"] == "meterline")
        #expect(overridden.kafka.count == 3, "\(overridden.kafka)")
        // Also without a kafka section in the file.
        let bare = try ConfigFixture.load(ConfigFixture.yaml(), environment: ["METERLINE_KAFKA_BOOTSTRAP_SERVERS": "b:9092"])
        #expect(bare.kafka == ["bootstrap.servers": "b:9092"])
    }

    @Test func duplicatesToDLQSetting() throws {
        #expect(try ConfigFixture.load(ConfigFixture.yaml()).settings.duplicatesToDLQ == false)
        #expect(try ConfigFixture.load(ConfigFixture.yaml(rest: "settings:\n  duplicatesToDLQ: true\n")).settings.duplicatesToDLQ)
        let bad = ConfigFixture.problems(ConfigFixture.yaml(rest: "settings:\n  duplicatesToDLQ: sometimes\n"))
        #expect(bad.map(\.path) == ["settings.duplicatesToDLQ"])
    }

    /// Every value can come from the environment: METERLINE_ and the path, underscores and case free.
    @Test func anyValueFromEnvironment() throws {
        let env = ["METERLINE_SETTINGS_ALLOWED_LATENESS": "10m",          // no settings section in the file
                   "METERLINE_CUSTOMERS_0_BILLING_ANCHOR_DAY": "31",      // a list element
                   "METERLINE_PRICEBOOKS_0_PRICES_0_UNITAMOUNT": "0.5",   // underscores are free
                   "METERLINE_TOPICS_USAGE": "usage-v2",
                   "METERLINE_BENCH_PIPELINE_COUNT": "5",                 // not config: ignored
                   "METERLINE_KAFKA_CLIENT_ID": "m1"]
        let c = try ConfigFixture.load(ConfigFixture.yaml(), environment: env)
        #expect(c.settings.allowedLatenessMicros == 10 * 60_000_000)
        #expect(c.contracts.first?.billingAnchorDay == 31)
        #expect(c.priceBooks.books.first?.prices.first?.model == .perUnit(unitAmount: try Amount("0.5")))
        #expect(c.topics.usage == "usage-v2")
        #expect(c.kafka["client.id"] == "m1")
        #expect(try ConfigFixture.load(ConfigFixture.yaml()).settings.allowedLatenessMicros == 5 * 60_000_000, "the default without it")

        // A bad value is reported at its variable, with the path it sets and what was expected.
        let bad = ConfigFixture.problems(ConfigFixture.yaml(), environment: ["METERLINE_SETTINGS_ALLOWED_LATENESS": "ten minutes"])
        #expect(bad.map(\.description) == [#"environment variable METERLINE_SETTINGS_ALLOWED_LATENESS:0:0 settings.allowedLateness: expected a duration like 300ms, 5m, 2h or 3d, got "ten minutes""#])
        // A variable that names no value is an error, not silently ignored.
        let unknown = ConfigFixture.problems(ConfigFixture.yaml(), environment: ["METERLINE_SETTINGS_LATENESS": "5m", "METERLINE_METERS_7_SLUG": "x"])
        #expect(unknown.map(\.file) == ["environment variable METERLINE_METERS_7_SLUG", "environment variable METERLINE_SETTINGS_LATENESS"])
    }

    @Test func tiersAreValidated() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(books: """
            priceBooks:
              - id: standard
                version: 1
                currency: USD
                effectiveFrom: 2026-01-01T00:00:00Z
                effectiveTo: 2025-01-01T00:00:00Z
                prices:
                  - meter: tokens
                    model: volume
                    tiers:
                      - { upTo: "100", unitAmount: "1" }
                      - { upTo: "50", unitAmount: "1" }
                  - meter: tokens
                    model: graduated
                    tiers:
                      - { unitAmount: "1" }
                  - { meter: tokens, model: package, packageSize: "0", packageAmount: "1" }
                  - { meter: tokens, model: tiered }
            """))
        let paths = problems.map(\.path)
        #expect(paths.contains("priceBooks[0].effectiveTo"), "\(problems)")
        #expect(paths.filter { $0 == "priceBooks[0].prices[0]" }.count == 2, "\(problems)")  // decreasing upTo, last not open
        #expect(paths.contains("priceBooks[0].prices[1].tiers[0].upTo"), "\(problems)")
        #expect(paths.contains("priceBooks[0].prices[2]"), "\(problems)")
        #expect(paths.contains("priceBooks[0].prices[3].model"), "\(problems)")
    }

    @Test func meterProblems() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(meters: """
            meters:
              - { slug: tokens, eventType: llm_tokens, aggregation: SUM, valueProperty: $.tokens }
              - { slug: tokens, eventType: other, aggregation: COUNT }
              - { slug: avg, eventType: x, aggregation: AVG }
              - { slug: bad_path, eventType: x, aggregation: SUM, valueProperty: tokens }
              - { slug: window, eventType: x, aggregation: COUNT, windowSize: WEEK }
            """))
        let paths = Set(problems.map(\.path))
        #expect(paths == ["meters", "meters[2].valueProperty", "meters[3].valueProperty", "meters[4].windowSize"], "\(problems)")
    }

    @Test func billingAnchorDay() throws {
        let ok = try ConfigFixture.load(ConfigFixture.yaml(customers: "customers:\n  - { subject: acme, entity: us-inc, priceBook: standard, billingAnchorDay: 15 }\n"))
        #expect(ok.contracts.first?.billingAnchorDay == 15)
        // 29–31 are valid: in a month without that day the period starts on its last day (UTC.periodStart).
        let last = try ConfigFixture.load(ConfigFixture.yaml(customers: "customers:\n  - { subject: acme, entity: us-inc, priceBook: standard, billingAnchorDay: 31 }\n"))
        #expect(last.contracts.first?.billingAnchorDay == 31)
        for day in [0, 32] {
            let bad = ConfigFixture.problems(ConfigFixture.yaml(customers: "customers:\n  - { subject: acme, entity: us-inc, priceBook: standard, billingAnchorDay: \(day) }\n"))
            #expect(bad.map(\.path) == ["customers[0].billingAnchorDay"], "day \(day)")
        }
    }

    @Test func duplicatePriceBookVersionsAndEntitiesAreReported() {
        let problems = ConfigFixture.problems(ConfigFixture.yaml(books: """
            priceBooks:
              - { id: standard, version: 1, currency: USD, effectiveFrom: 2026-01-01T00:00:00Z, prices: [ { meter: tokens, model: per_unit, unitAmount: "1" } ] }
              - { id: standard, version: 1, currency: USD, effectiveFrom: 2026-01-01T00:00:00Z, prices: [ { meter: tokens, model: per_unit, unitAmount: "2" } ] }
            """, entities: """
            entities:
              - { id: us-inc, currency: USD, accounts: { unbilledReceivable: "1210", usageRevenue: "4010" } }
              - { id: us-inc, currency: USD, accounts: { unbilledReceivable: "1299", usageRevenue: "4099" } }
            """))
        #expect(problems.contains { $0.path.hasPrefix("priceBooks") }, "two different price books 'standard' version 1: \(problems)")
        #expect(problems.contains { $0.path.hasPrefix("entities") }, "two entities 'us-inc': \(problems)")
    }

    @Test func emptyAndNonMappingFiles() {
        #expect(ConfigFixture.problems("").map(\.path) == ["$"])
        #expect(ConfigFixture.problems("- a\n- b\n").map(\.path) == ["$"])
        let missing = ConfigFixture.problems("meters: []\n")
        #expect(Set(missing.map(\.path)).isSuperset(of: ["meters", "priceBooks", "entities"]), "\(missing)")
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/meterline.yaml", environment: [:]) }
    }

    /// A YAML syntax error names where it is, like every other problem.
    @Test func yamlSyntaxErrorHasALocation() {
        let text = ConfigFixture.yaml() + "settings:\n  allowedLateness: [5m\n"
        let problems = ConfigFixture.problems(text)
        #expect(problems.count == 1)
        #expect((problems.first?.line ?? 0) >= 17, "\(problems)")
    }
}
