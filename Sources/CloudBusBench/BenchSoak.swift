import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import CommandOptions
import Foundation
import Glibc
import Inventory
import KVMMessages
import Primitives
import Synchronization
import Worker
import ZBSMessages

/// `cloudbus-bench soak`: the worker under a steady mixed load with a fault every `--fault-every` seconds, and the
/// books checked at the end (docs/soak.md). Loopback only, bounded in time, stops by itself; exit status 1 when a
/// promise was broken (a confirmed request never answered, an announcement never seen, memory growing).
struct BenchSoak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Mixed load with a fault every minute; every request answered, every output seen.")

    @OptionGroup var connection: ConnectionOptions

    // Not `--duration`: the parent command owns that name and would take the value.
    @Option(name: .customLong("seconds"), help: "Seconds of load (after the calibration).")
    var duration: Double = 1_800

    @Option(help: "Seconds between faults (rotating: connection close, worker kill -9, agent stall, MDS refusing).")
    var faultEvery: Double = 60

    @Option(help: "Requests per second; default: half the peak measured by a calibration run first.")
    var rate: Double?

    @Option(help: "Seconds of the calibration run (closed loop, no faults), when --rate is not given.")
    var calibration: Double = 10

    @Option(help: "Simulated hosts (one fake agent on 127.0.0.1 answers for all of them).")
    var hosts: Int = 30

    @Option(help: "VMs per host.")
    var vmsPerHost: Int = 10

    @Option(help: "Running VMs turned off on the agent at every fault: each must be announced (/vm/state/change).")
    var flipsPerFault: Int = 3

    @Option(help: "Seconds the books may take to close after the load stops.")
    var drain: Double = 120

    @Option(help: "Append the report (markdown) to this file.")
    var report: String?

    @Flag(help: "Keep the scratch directory (worker logs and store) instead of deleting it.")
    var keepScratch = false

    func validate() throws {
        guard duration > 0, faultEvery > 0, hosts > 0, vmsPerHost > 0 else {
            throw ValidationError("--seconds, --fault-every, --hosts and --vms-per-host must be > 0")
        }
        if let rate, rate <= 0 { throw ValidationError("--rate must be > 0") }
    }

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        let brokerControl = ProcessInfo.processInfo.environment["CLOUDBUS_BROKER_CTL"]
        guard let brokerControl else {
            throw ValidationError("CLOUDBUS_BROKER_CTL must name scripts/broker.sh (the connection-close fault uses it)")
        }
        let scratch = try BenchSetup.makeScratchDirectory("soak")
        let keep = keepScratch
        defer { if keep { print("scratch kept: \(scratch)") } else { try? FileManager.default.removeItem(atPath: scratch) } }
        let world = try await SoakWorld.start(hosts: hosts, vmsPerHost: vmsPerHost, scratch: scratch,
                                              amqp: configuration.amqp)
        let books = SoakBooks()
        let client = try await SoakClient.start(amqp: configuration.amqp, books: books)
        var outcome: SoakOutcome?
        do {
            try await world.startWorker(generation: 1)
            guard await client.waitUntilServing(world.node, within: .seconds(60)) else {
                throw BenchError.setup("the worker never answered: \(world.workerLogTail)")
            }
            let rate: Double
            if let given = self.rate { rate = given } else { rate = try await calibrate(world, client) }
            print(String(format: "soak: %.0f s at %.0f req/s (ping 40 %%, echo 20 %%, device-info 20 %%, ZBS 20 %%), "
                         + "a fault every %.0f s, %d hosts × %d VMs", duration, rate, faultEvery, hosts, vmsPerHost))
            books.reset()
            outcome = try await soak(world, client, books: books, rate: rate, brokerControl: brokerControl)
        } catch {
            print("soak FAILED: \(error)")
        }
        await client.close()
        await world.stop()
        guard let outcome else { throw ExitCode(1) }
        var text = outcome.report(books: books, world: world)
        if !outcome.unannounced.isEmpty {
            // Changed but not announced (an output lost), or never changed (no sync saw it)?
            let store = try? SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: world.dataDirectory))
            var states: [String: Int] = [:]
            for vm in outcome.unannounced {
                let state = (try? await store?.vm(uuid: vm))??.state.rawValue ?? "missing"
                states[state, default: 0] += 1
            }
            text += "\n- unannounced VMs by their state in the store: "
                + states.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + "; e.g. \(outcome.unannounced.prefix(3).joined(separator: ", "))"
        }
        print(text)
        if let report {
            let line = "\n" + text + "\n"
            if let handle = FileHandle(forWritingAtPath: report) {
                handle.seekToEndOfFile()
                handle.write(Data(line.utf8))
                try? handle.close()
            } else {
                try Data(line.utf8).write(to: URL(fileURLWithPath: report))
            }
        }
        if !outcome.kept(books: books, world: world, checkMemory: duration >= 600) { throw ExitCode(1) }
    }

    /// Closed loop, 64 in flight, no faults: the peak of this mix on this machine now. The soak runs at half of it.
    private func calibrate(_ world: SoakWorld, _ client: SoakClient) async throws -> Double {
        let answeredBefore = client.books.answeredCount
        let start = ContinuousClock.now
        try await client.closedLoop(lanes: 64, seconds: calibration) { number in
            var sequence = number
            return world.nextRequest(&sequence)
        }
        let peak = Double(client.books.answeredCount - answeredBefore) / start.duration(to: .now).inSeconds
        print(String(format: "calibration: %.0f req/s peak (closed loop, 64 in flight, %.0f s)", peak, calibration))
        return max(1, peak / 2)
    }

    private func soak(_ world: SoakWorld, _ client: SoakClient, books: SoakBooks, rate: Double,
                      brokerControl: String) async throws -> SoakOutcome {
        let start = ContinuousClock.now
        let end = start + .seconds(duration)
        let every = faultEvery, flips = flipsPerFault, samplingEnd = end + .seconds(drain)
        let faults = Task { await world.injectFaults(every: every, until: end, flips: flips, brokerControl: brokerControl) }
        let sampler = Task { await world.sampleMemory(until: samplingEnd) }
        // Open loop: every 10 ms the requests due by then, each on a task of its own (a sender retries until the
        // broker confirmed it), at most 2,000 unconfirmed at once.
        var due = 0.0, sequence = 0
        let slots = AsyncSemaphore(2_000)
        while ContinuousClock.now < end {
            due += rate / 100
            while due >= 1 {
                due -= 1
                let request = world.nextRequest(&sequence)
                await slots.wait()
                Task {
                    await client.sendUntilConfirmed(request)
                    slots.signal()
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let faultLog = await faults.value
        await slots.drain(2_000)
        let loadEnded = ContinuousClock.now
        // The books close when every confirmed request is answered and every flipped VM announced.
        let deadline = loadEnded + .seconds(drain)
        while ContinuousClock.now < deadline {
            if books.unansweredCount == 0 && world.unannouncedFlips(seen: client.announcedStops).isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let drained = loadEnded.duration(to: .now)
        let memory = await world.stopSampling(sampler)
        return SoakOutcome(faults: faultLog, drained: drained, memory: memory,
                           unannounced: world.unannouncedFlips(seen: client.announcedStops),
                           flipped: world.flippedCount, rate: rate, duration: duration)
    }
}

/// A counting semaphore for the open-loop sender (bounded in-flight publishes).
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func signal() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Waits until all `count` permits are back.
    func drain(_ count: Int) async {
        for _ in 0..<count { await wait() }
        for _ in 0..<count { signal() }
    }
}
