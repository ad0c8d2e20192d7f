// MeterlineAdmin — the admin HTTP endpoints of a running engine (DESIGN.md §11).
//
// Owns: `/metrics` (Prometheus text), `/healthz` (the poll loop is alive), `/readyz` (partitions assigned, producer
// ready), served by Hummingbird on a loopback address by default. It reads what the engine exposes through
// `AdminServer.Probes` and changes nothing.
//
// Must never import: MeterlineEngine, MeterlinePipeline, MeterlineKafka, C modules (the CLI wires the probes).
import Foundation
import Hummingbird
import Logging

/// An HTTP server for `/metrics`, `/healthz` and `/readyz`, started in the background of a blocking engine run.
/// Invariant: probes are called from the server's threads, so each must be thread-safe (atomics or a lock).
public final class AdminServer: Sendable {
    /// What the endpoints report. Each closure must be safe to call from any thread.
    public struct Probes: Sendable {
        /// The Prometheus text exposition (`/metrics`).
        public var metrics: @Sendable () -> String
        /// Nil when healthy, else why not (`/healthz` answers 503 with it).
        public var health: @Sendable () -> String?
        /// Nil when ready, else why not (`/readyz` answers 503 with it).
        public var readiness: @Sendable () -> String?
        public init(metrics: @escaping @Sendable () -> String, health: @escaping @Sendable () -> String?, readiness: @escaping @Sendable () -> String?) {
            self.metrics = metrics
            self.health = health
            self.readiness = readiness
        }
    }

    let host: String
    let port: Int
    let probes: Probes
    let logger: Logger

    public init(host: String = "127.0.0.1", port: Int, probes: Probes, logger: Logger = Logger(label: "meterline.admin")) {
        self.host = host
        self.port = port
        self.probes = probes
        self.logger = logger
    }

    /// Starts serving in the background; returns the bound port (useful with port 0) once the server listens.
    /// - Throws: if the address cannot be bound within 10 s.
    @discardableResult
    public func start() throws -> Int {
        let bound = BoundPort()
        let router = Router()
        let probes = self.probes
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: probes.metrics())))
        }
        router.get("healthz") { _, _ -> Response in AdminServer.answer(probes.health()) }
        router.get("readyz") { _, _ -> Response in AdminServer.answer(probes.readiness()) }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)), onServerRunning: { channel in
            bound.set(channel.localAddress?.port ?? -1)
        }, logger: logger)
        let logger = self.logger
        // On a thread of its own: the endpoints answer even when the global concurrency pool is busy or blocked.
        Task(executorPreference: AdminServer.executor) {
            do { try await app.run() } catch {
                logger.error("admin server stopped", metadata: ["error": "\(error)"])
                bound.set(-1)
            }
        }
        guard let p = bound.wait(seconds: 10), p > 0 else {
            throw AdminError(message: "admin server: cannot listen on \(host):\(port)")
        }
        logger.info("admin server listening", metadata: ["address": "\(host):\(p)"])
        return p
    }

    static let executor = DedicatedExecutor(name: "meterline-admin")

    static func answer(_ problem: String?) -> Response {
        let (status, text): (HTTPResponse.Status, String) = problem.map { (.serviceUnavailable, $0 + "\n") } ?? (.ok, "ok\n")
        return Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The admin server could not start.
public struct AdminError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// The port the server bound, handed from its thread to the starting one.
final class BoundPort: @unchecked Sendable {
    private let condition = NSCondition()
    private var port: Int? = nil

    func set(_ p: Int) {
        condition.lock()
        if port == nil { port = p }
        condition.broadcast()
        condition.unlock()
    }

    func wait(seconds: Double) -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while port == nil { if !condition.wait(until: deadline) { break } }
        return port
    }
}

/// A task executor with one thread of its own, for the admin server's async work (jobs run in arrival order).
/// Why `@unchecked Sendable`: `jobs` is only touched under `condition`.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(name: String) {
        let t = Thread { [self] in self.loop() }
        t.name = name
        t.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        condition.lock()
        jobs.append(j)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for j in batch { j.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
