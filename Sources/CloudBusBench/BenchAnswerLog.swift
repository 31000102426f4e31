import ArgumentParser
import Foundation
import Inventory
import Primitives

/// `cloudbus-bench answer-log`: what the answer log costs where it is not on the echo's path — a batch's append with
/// its fdatasync, the restore of the window's ids at start, and a lookup by id (every duplicate after a restart asks
/// one) — on a full window in a scratch directory. In-process, no broker.
struct BenchAnswerLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "answer-log",
        abstract: "Measure the answer log: appends, the restore at start, and lookups by id on a full window.",
        discussion: """
            Appends --window × 2 − 1 answers of --reply-bytes in batches of --batch (both segments full: the most a \
            reader scans), then times, each --rounds times: the ids of the window (what a worker reads at start), a \
            lookup of the window's oldest answer, of its newest, and of an id it does not hold. Figures are medians.
            """)

    @Option(help: "Answers kept (the worker's dedupeWindow).")
    var window = 65_536

    @Option(help: "Reply bytes per answer (an echo's reply is 501).")
    var replyBytes = 501

    @Option(help: "Answers per appended batch (about what W=100 gives per linger).")
    var batch = 110

    /// `--rounds` is the parent's option (see `Bench.rounds`).
    @ParentCommand var bench: Bench
    var rounds: Int { bench.rounds ?? 5 }

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("cloudbus-bench-answer-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reply = [UInt8](repeating: UInt8(ascii: "x"), count: replyBytes)
        let total = window * 2 - 1
        let clock = ContinuousClock()

        var batchTimes: [Double] = []
        do {
            let log = AnswerLog(directory: directory)
            var number = 0
            while number < total {
                let answers = (number..<min(total, number + batch)).map {
                    AnsweredMessage(id: Self.id($0), reply: reply, answeredAtEpochMillis: Int64($0))
                }
                let start = clock.now
                try log.append(answers, keepingLast: window)
                batchTimes.append(start.duration(to: clock.now).inSeconds)
                number += answers.count
            }
        }

        let log = AnswerLog(directory: directory)
        var restore: [Double] = [], oldest: [Double] = [], newest: [Double] = [], missing: [Double] = []
        var restored = 0, found = 0
        /// Seconds `body` took.
        func timed(_ body: () throws -> Void) rethrows -> Double {
            let start = clock.now
            try body()
            return start.duration(to: clock.now).inSeconds
        }
        for _ in 0..<rounds {
            restore.append(try timed { restored = try log.answeredMessageIds(limit: window).count })
            oldest.append(try timed { if try log.answeredMessage(id: Self.id(total - window)) != nil { found += 1 } })
            newest.append(try timed { if try log.answeredMessage(id: Self.id(total - 1)) != nil { found += 1 } })
            missing.append(try timed { if try log.answeredMessage(id: Self.id(total + 1)) != nil { found += 1 } })
        }
        guard restored == window, found == rounds * 2 else {
            throw ValidationError("the log returned \(restored) ids of \(window) and found \(found) of \(rounds * 2)")
        }
        let segmentBytes = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".log") }
            .reduce(0) { sum, name in
                sum + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0)
            }

        print("""
            answer-log: window \(window), reply \(replyBytes) B, batches of \(batch), \(total) answers appended, \
            \(rounds) rounds; segments on disk \(segmentBytes / 1_048_576) MiB
              append: \(Self.ms(batchTimes)) ms per batch (median of \(batchTimes.count)), \
            \(BenchReport.format(BenchStatistics.median(batchTimes).map { $0 * 1e6 / Double(batch) }, 1)) µs per answer
              restore at start (ids of the window): \(Self.ms(restore)) ms
              lookup by id: oldest in the window \(Self.ms(oldest)) ms, newest \(Self.ms(newest)) ms, \
            not held \(Self.ms(missing)) ms
            """)
    }

    private static func id(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "a" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    /// The median of `seconds`, in milliseconds.
    private static func ms(_ seconds: [Double]) -> String {
        BenchReport.format(BenchStatistics.median(seconds).map { $0 * 1e3 }, 2)
    }
}
