import Atomics
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MeterlineAdmin
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineKafka
import Prometheus
import Testing

@Suite(.timeLimit(.minutes(2)))
struct AdminTests {
    /// GET over real HTTP: (status, body).
    func get(_ url: String) throws -> (Int, String) {
        let done = DispatchSemaphore(value: 0)
        let result = Unchecked(ResultBox())
        URLSession.shared.dataTask(with: URL(string: url)!) { data, response, error in
            result.value.status = (response as? HTTPURLResponse)?.statusCode ?? -1
            result.value.body = data.map { String(decoding: $0, as: UTF8.self) } ?? "\(error.map { "\($0)" } ?? "")"
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 10) == .success else { throw AdminError(message: "GET \(url) timed out") }
        return (result.value.status, result.value.body)
    }

    /// The endpoints of a running engine: not ready before the group assigns partitions, then healthy and ready, with
    /// the engine's metrics; not ready again once it stopped.
    @Test func healthReadinessAndMetricsOfARunningEngine() throws {
        let config = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        let cluster = try MockCluster(brokers: 1)
        defer { cluster.close() }
        for (t, p) in [("usage", 2), ("billing", 2), ("journal", 1), ("dlq", 1), ("state", 2)] { try cluster.createTopic(t, partitions: Int32(p)) }
        let kafka = ["bootstrap.servers": cluster.bootstrapServers]
        let producer = try KafkaProducer(config: kafka)
        for i in 0..<50 {
            let m = event("a-\(i)", "llm_tokens", i % 2 == 0 ? "acme" : "globex", "2026-10-01T00:0\(i % 10):00Z", #"{"tokens":10}"#)
            try producer.produce(topic: "usage", key: m.key, value: m.value)
        }
        try producer.flush(timeoutMs: 10_000)

        let engine = StreamingEngine(config: config, kafka: kafka, lineageDirectory: tempDir("admin"), shards: 2)
        engine.now = { RFC3339.parseMicros("2026-11-01T00:00:00Z")! }
        let registry = PrometheusCollectorRegistry()
        engine.metrics = PrometheusMetricsFactory(registry: registry)
        let stop = ManagedAtomic<Bool>(false)
        engine.shouldStop = { stop.load(ordering: .acquiring) }
        let e = Unchecked(engine)
        let server = AdminServer(port: 0, probes: AdminServer.Probes(
            metrics: { registry.emitToString() }, health: { e.value.health() }, readiness: { e.value.readiness() }))
        let port = try server.start()
        let base = "http://127.0.0.1:\(port)"
        #expect(try get(base + "/readyz").0 == 503, "not ready before the engine runs")
        #expect(try get(base + "/healthz").0 == 503)

        let finished = ManagedAtomic<Bool>(false)
        let thread = Thread {
            _ = try? e.value.run(until: .signal, groupId: "admin")
            finished.store(true, ordering: .releasing)
        }
        thread.start()
        let deadline = Date().addingTimeInterval(60)
        while engine.consumedMessages.load(ordering: .relaxed) < 50 || engine.readiness() != nil {
            guard Date() < deadline else { Issue.record("the engine did not consume its input"); break }
            usleep(20_000)
        }
        let ready = try get(base + "/readyz"), healthy = try get(base + "/healthz")
        #expect(ready.0 == 200 && ready.1 == "ok\n" && healthy.0 == 200, "\(ready) \(healthy)")
        // Metrics appear after the first checkpoint (an idle poll checkpoints what it has).
        while !registry.emitToString().contains(#"meterline_events_total{outcome="in"} 50"#) && Date() < deadline { usleep(20_000) }
        let metrics = try get(base + "/metrics")
        #expect(metrics.0 == 200 && metrics.1.contains(#"meterline_events_total{outcome="in"} 50"#), "\(metrics.1.prefix(400))")
        #expect(metrics.1.contains("meterline_assigned_partitions 2.0"))

        stop.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) && Date() < deadline { usleep(20_000) }
        #expect(try get(base + "/readyz").0 == 503, "not ready after the engine stopped")
    }
}

final class ResultBox: @unchecked Sendable {
    var status = -1
    var body = ""
}
