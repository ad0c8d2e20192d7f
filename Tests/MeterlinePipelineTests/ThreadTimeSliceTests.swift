import Foundation
import Glibc
import MeterlineConfig
@testable import MeterlinePipeline
import Testing

/// Whether this kernel reports and honours a fair-class thread's requested slice (EEVDF custom slices, Linux 6.12),
/// read from `uname`: an oracle that does not go through the code under test.
let kernelHasCustomSlices: Bool = {
    var u = utsname()
    uname(&u)
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard parts.count == 2 else { return false }
    return parts[0] > 6 || (parts[0] == 6 && parts[1] >= 12)
}()

/// A value handed from one thread to another; the semaphore in `onNewThread` orders the write before the read.
final class HandOver<T>: @unchecked Sendable { var value: T? }

/// Runs `body` on a thread of its own (a test must not change the slice or nice value of the test runner's threads).
func onNewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
    let box = HandOver<T>()
    let done = DispatchSemaphore(value: 0)
    let t = Thread {
        box.value = body()
        done.signal()
    }
    t.start()
    done.wait()
    return box.value!
}

@Suite struct ThreadTimeSliceTests {
    @Test func aRequestIsGrantedClampedAndUndone() {
        let r = onNewThread { () -> [UInt64?] in
            let before = ThreadTimeSlice.current
            let granted = ThreadTimeSlice.request(ThreadTimeSlice.longest)
            let now = ThreadTimeSlice.current
            let tooLong = ThreadTimeSlice.request(2_000_000_000)
            let tooShort = ThreadTimeSlice.request(1_000)
            let reset = ThreadTimeSlice.request(0)
            return [before, granted, now, tooLong, tooShort, reset]
        }
        if kernelHasCustomSlices {
            #expect(r[0] != nil && r[0] != ThreadTimeSlice.longest, "a new thread has the kernel's default slice")
            #expect(r[1] == ThreadTimeSlice.longest && r[2] == ThreadTimeSlice.longest)
            #expect(r[3] == 100_000_000, "clamped to 100 ms")
            #expect(r[4] == 100_000, "clamped to 0.1 ms")
            #expect(r[5] == r[0], "0 gives back the default")
        } else {
            #expect(r.allSatisfy { $0 == nil }, "a kernel without custom slices reports none")
        }
    }

    /// The request rewrites the thread's scheduling attributes: its nice value must come through unchanged.
    @Test func aRequestKeepsTheThreadsNiceValue() {
        let (niceBefore, niceAfter) = onNewThread { () -> (Int32, Int32) in
            // On Linux, PRIO_PROCESS with 0 is the calling thread's nice value only.
            let me = __priority_which_t(PRIO_PROCESS.rawValue)
            _ = setpriority(me, 0, 7)
            let before = getpriority(me, 0)
            ThreadTimeSlice.request(ThreadTimeSlice.longest)
            return (before, getpriority(me, 0))
        }
        #expect(niceBefore == 7)
        #expect(niceAfter == 7)
    }

    @Test func shardThreadsAskForTheirSlice() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        for slice in [ThreadTimeSlice.longest, nil] {
            let sp = ShardedPipeline(shards: 3, routing: .partition, batchSize: 4, timeSlice: slice) { Pipeline(config: config) }
            for i in 0..<30 {
                var bytes = Array(tokens("id-\(i)", "c-\(i % 5)", "2026-10-01T00:00:\(10 + i)Z", 10).utf8)
                bytes.withUnsafeMutableBytes { sp.process(partition: Int32(i % 3), offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
            }
            sp.stop()
            #expect(sp.counters.balanced && sp.counters.input == 30)
            let expected: UInt64? = slice != nil && kernelHasCustomSlices ? slice : nil
            #expect(sp.shardTimeSlices == [expected, expected, expected], "asked for \(String(describing: slice))")
        }
    }
}
