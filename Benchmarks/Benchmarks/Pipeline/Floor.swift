import Benchmark
import BenchmarkSupport
import CPrefetch
import MeterlineCore
import MeterlinePipeline

// The floor under issue #5's goal: the smallest part of the pipeline's per-event work, on the same 10M events as
// `Pipeline_100k_customers_*`, with nothing else in the loop. Three benchmarks, each one stage more:
//   Floor_parse            Meterline's parser and validation alone (no state);
//   Floor_parse_dedup      + the exact dedup set (`DedupTable`, sized for every id up front, so it never rehashes);
//   Floor_parse_dedup_sum  + one hourly sum per (subject, meter, dimensions), in a table of one 64-byte line per window.
// The last one is what a minimal engine must do for the benchmark's semantics, minus lineage, window close, rating,
// billing events and checkpoints. Both tables get the pipeline's look-ahead: events are parsed 16 ahead and their
// slots prefetched in groups of 8. The figures bound what the full pipeline can reach on this machine
// (BENCHMARKS.md, issue #5): a pipeline that does more per event cannot be faster than these loops.

/// One hourly window of the floor's sum table: its key, event count and sum, in exactly one cache line.
/// Invariant: `count == 0` marks an empty slot (an occupied window has counted at least one event).
struct FloorWindow {
    var subject: Hash128
    var dimensions: Hash128
    var windowStart: Int64
    var meter: Int32
    var count: UInt32
    var sum: Int128
}

/// An open-addressing table of `FloorWindow`s, linear probing, power-of-two slots aligned to cache lines.
/// Invariant: fewer than 7/8 of the slots are occupied (every probe ends at an empty slot).
struct FloorSumTable: ~Copyable {
    let slots: UnsafeMutablePointer<FloorWindow>
    let mask: Int
    var occupied = 0

    init(slotCount: Int) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0, "slot count \(slotCount) is not a power of two")
        precondition(MemoryLayout<FloorWindow>.stride == 64, "a floor window is not one cache line")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: slotCount * 64, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: slotCount * 64)
        slots = raw.bindMemory(to: FloorWindow.self, capacity: slotCount)
        mask = slotCount - 1
    }

    deinit { UnsafeMutableRawPointer(slots).deallocate() }

    @inline(__always)
    func home(_ subject: Hash128, _ dimensions: Hash128, _ windowStart: Int64, _ meter: Int32) -> Int {
        let h = (subject.low ^ dimensions.low &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: windowStart) &* 0xC2B2_AE3D_27D4_EB4F
                 ^ UInt64(UInt32(bitPattern: meter))) &* 0xFF51_AFD7_ED55_8CCD
        return Int(truncatingIfNeeded: h >> 40) & mask
    }

    @inline(__always)
    func prefetch(_ subject: Hash128, _ dimensions: Hash128, _ windowStart: Int64, _ meter: Int32) {
        meterline_prefetch(slots + home(subject, dimensions, windowStart, meter))
    }

    /// Adds `value` to the window's sum, opening the window on its first event. Overflow is a fatal error here
    /// (the pipeline reports it; the generated values cannot overflow).
    @inline(__always)
    mutating func add(_ subject: Hash128, _ dimensions: Hash128, _ windowStart: Int64, _ meter: Int32, _ value: Int128) {
        var i = home(subject, dimensions, windowStart, meter)
        while true {
            let w = slots + i
            if w.pointee.count == 0 {
                precondition(occupied < (mask + 1) / 8 * 7, "floor sum table full")
                w.pointee = FloorWindow(subject: subject, dimensions: dimensions, windowStart: windowStart, meter: meter, count: 1, sum: value)
                occupied += 1
                return
            }
            if w.pointee.subject == subject && w.pointee.dimensions == dimensions && w.pointee.windowStart == windowStart
                && w.pointee.meter == meter {
                let (s, o) = w.pointee.sum.addingReportingOverflow(value)
                precondition(!o, "floor sum overflow")
                w.pointee.sum = s
                w.pointee.count &+= 1
                return
            }
            i = (i &+ 1) & mask
        }
    }
}

/// The first reading of a parsed event, as the floor keeps it.
struct FloorReading {
    var value: Int128
    var dimensions: Hash128
    var meter: Int32
}

/// How much of the per-event work a floor benchmark does.
enum FloorStage: Int {
    case parse, dedup, sum
}

/// What one floor run counted: accepted, duplicates, windows (0 when the stage has no table), and a checksum of the
/// parsed values so the parse cannot be optimized away.
struct FloorResult {
    var accepted = 0
    var duplicates = 0
    var windows = 0
    var checksum: Int128 = 0
    /// The sum over the windows of the sum table (the `sum` stage): must equal `checksum`.
    var windowTotal: Int128 = 0
}

/// Runs the floor's loop over every message of `input` once.
func runFloor(_ stage: FloorStage, _ input: CustomerScaleInput, _ all: UnsafeRawBufferPointer, catalog: MeterCatalog, now: Int64) -> FloorResult {
    let lookahead = 16, group = 8
    var parser = EventParser(catalog: catalog)
    var seen = DedupTable(expectedCount: stage == .parse ? 0 : input.messages.count)
    var sums = FloorSumTable(slotCount: stage == .sum ? 1 << 21 : 1)
    // The look-ahead entries in plain buffers, as the pipeline keeps them (no array checks in the loop).
    let events = UnsafeMutablePointer<ParsedEvent?>.allocate(capacity: lookahead)
    events.initialize(repeating: nil, count: lookahead)
    let readings = UnsafeMutablePointer<FloorReading>.allocate(capacity: lookahead)
    readings.initialize(repeating: FloorReading(value: 0, dimensions: .zero, meter: 0), count: lookahead)
    defer {
        events.deinitialize(count: lookahead); events.deallocate()
        readings.deinitialize(count: lookahead); readings.deallocate()
    }
    let hour: Int64 = 3_600_000_000
    var result = FloorResult()
    let n = input.messages.count
    @inline(__always) func windowStart(_ t: Int64) -> Int64 { t - ((t % hour) + hour) % hour }
    for j in 0..<(n + lookahead) {
        if j >= lookahead, let e = events[(j - lookahead) % lookahead] {
            let r = readings[(j - lookahead) % lookahead]
            switch stage {
            case .parse:
                result.accepted += 1
                result.checksum &+= r.value
            case .dedup, .sum:
                let probe = seen.probe(e.identity)
                if probe.found {
                    result.duplicates += 1
                } else {
                    if stage == .sum { sums.add(e.subjectHash, r.dimensions, windowStart(e.timeMicros), r.meter, r.value) }
                    seen.insert(e.identity, day: Int32(e.timeMicros / 86_400_000_000), at: probe)
                    result.accepted += 1
                    result.checksum &+= r.value
                }
            }
        }
        if j < n {
            let m = input.messages[j]
            do {
                let e = try parser.parse(UnsafeRawBufferPointer(rebasing: all[m.start..<m.start + m.count]), nowMicros: now)
                events[j % lookahead] = e
                readings[j % lookahead] = parser.withReadings { FloorReading(value: $0[0].value.raw, dimensions: $0[0].dimensionsHash, meter: Int32($0[0].meterIndex)) }
            } catch {
                fatalError("generated event rejected: \(error)")
            }
            if stage != .parse && (j % group == group - 1 || j == n - 1) {
                for i in (j - j % group)...j {
                    guard let e = events[i % lookahead] else { continue }
                    seen.prefetch(e.identity)
                    if stage == .sum {
                        let r = readings[i % lookahead]
                        sums.prefetch(e.subjectHash, r.dimensions, windowStart(e.timeMicros), r.meter)
                    }
                }
            }
        }
    }
    result.windows = sums.occupied
    if stage == .sum {
        for i in 0...sums.mask where sums.slots[i].count > 0 { result.windowTotal &+= sums.slots[i].sum }
    }
    return result
}

func floorBenchmarks(config: Configuration) {
    let now = EventGenerator.startMicros + 2 * 86_400_000_000
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident, .eventsPerSecond],
        maxDuration: .seconds(60),
        maxIterations: 5
    )
    let catalog = MeterCatalog(config.meters)
    for (name, stage) in [("Floor_parse", FloorStage.parse), ("Floor_parse_dedup", .dedup), ("Floor_parse_dedup_sum", .sum)] {
        Benchmark(name, configuration: configuration) { benchmark in
            let input = CustomerScaleInput.shared
            input.flat.withUnsafeBytes { all in
                for _ in benchmark.scaledIterations {
                    let clock = ContinuousClock()
                    benchmark.startMeasurement()
                    let t0 = clock.now
                    let r = runFloor(stage, input, all, catalog: catalog, now: now)
                    let elapsed = clock.now - t0
                    benchmark.stopMeasurement()
                    blackHole(r.checksum)
                    precondition(r.accepted + r.duplicates == customerScaleEvents, "floor lost events: \(r)")
                    precondition(stage == .parse || r.duplicates == input.duplicates, "floor dedup counted \(r.duplicates), \(input.duplicates) generated")
                    precondition(stage != .sum || (r.windows > 0 && r.windowTotal == r.checksum), "floor windows do not add up: \(r)")
                    benchmark.measurement(.eventsPerSecond, Int(Double(customerScaleEvents) / seconds(elapsed) / 1_000))
                }
            }
        }
    }
}
