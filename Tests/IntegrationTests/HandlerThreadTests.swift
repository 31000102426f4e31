import AgentHTTP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Primitives
import Synchronization
import Testing
import Worker

/// `cloudbus.test.WhereMsg`: a test-only class whose handler notes where it runs.
struct WhereMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.WhereMsg"
    var key: String
}

/// Where a handler ran: on the consuming connection's thread, on an agent client's event loop (the pipeline's
/// executors for handlers that are not lightweight), or on the cooperative pool.
enum Placement: Equatable {
    case connectionThread, eventLoop, pool
}

/// Notes, per call, where the handler ran: the pool when its task has no executor preference or the global concurrent
/// executor's, an event loop when its thread is one, the consuming connection's thread otherwise.
final class WhereHandler: BusHandler, Sendable {
    let isLightweight: Bool
    private let placements = Mutex<[Placement]>([])

    init(lightweight: Bool) { isLightweight = lightweight }

    var expectsReply: Bool { true }
    var ranOn: [Placement] { placements.withLock { $0 } }

    func resourceKey(for message: WhereMsg) -> String { message.key }

    func handle(_ message: WhereMsg, context: HandlerContext) async throws -> HandlerOutput {
        // After a suspension too: a resumed handler comes back to where it runs.
        await Task.yield()
        let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
        let global = globalConcurrentExecutor.asUnownedTaskExecutor()
        let placement: Placement = preferred == nil || preferred == global
            ? .pool : EventLoopTaskExecutor.onEventLoopThread ? .eventLoop : .connectionThread
        placements.withLock { $0.append(placement) }
        return HandlerOutput(reply: MessageReply())
    }
}

@Suite("Where handlers run", .enabled(if: TestBroker.available))
struct HandlerThreadTests {
    @Test("""
        lightweight handlers on the consuming connection's thread, others on the agent client's event loops; all on \
        the pool with handlersOnPool
        """,
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func handlersRunWhereConfigured(onPool: Bool, lightweight: Bool) async throws {
        let handler = WhereHandler(lightweight: lightweight)
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
        let placements = handler.ranOn
        let expected: Placement = onPool ? .pool : lightweight ? .connectionThread : .eventLoop
        #expect(placements.count == 20)
        #expect(placements.allSatisfy { $0 == expected },
                "\(placements.filter { $0 != expected }.count) of 20 ran elsewhere than expected (\(expected))")
    }
}
