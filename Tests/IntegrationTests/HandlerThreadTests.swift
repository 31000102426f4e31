import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Primitives
import Synchronization
import Testing
import Worker

/// `cloudbus.test.WhereMsg`: a test-only class whose handler notes whether it runs with a task executor preference,
/// i.e. on the consuming connection's owner thread rather than on the cooperative pool.
struct WhereMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.WhereMsg"
    var key: String
}

final class WhereHandler: BusHandler, Sendable {
    private let placements = Mutex<[(key: String, onPreferredExecutor: Bool)]>([])

    var expectsReply: Bool { true }
    var seen: [(key: String, onPreferredExecutor: Bool)] { placements.withLock { $0 } }

    func resourceKey(for message: WhereMsg) -> String { message.key }

    func handle(_ message: WhereMsg, context: HandlerContext) async throws -> HandlerOutput {
        // After a suspension too: a resumed handler comes back to where it runs.
        await Task.yield()
        let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor != nil }
        placements.withLock { $0.append((message.key, preferred)) }
        return HandlerOutput(reply: MessageReply())
    }
}

@Suite("Where handlers run", .enabled(if: TestBroker.available))
struct HandlerThreadTests {
    @Test("by default on the consuming connection's thread; with handlersOnPool on the pool; answered either way",
          arguments: [false, true])
    func handlersRunWhereConfigured(onPool: Bool) async throws {
        let handler = WhereHandler()
        try await withWorker(configure: { $0.handlersOnPool = onPool },
                             extraHandlers: { $0.register(handler) }) { harness in
            // Two calls per key: below the key backlog (4 waiting), so none is refused.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await harness.call(WhereMsg.className, ["key": .string("k\(index % 10)")]).success
                    }
                }
                for try await success in group { #expect(success) }
            }
        }
        let seen = handler.seen
        #expect(seen.count == 20)
        #expect(seen.allSatisfy { $0.onPreferredExecutor == !onPool },
                "handlersOnPool \(onPool): \(seen.filter { $0.onPreferredExecutor == onPool }.count) ran elsewhere")
    }
}
