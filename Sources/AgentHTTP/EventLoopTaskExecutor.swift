import NIOCore
import NIOPosix

/// An event loop as a Swift `TaskExecutor`: a task that prefers it runs its jobs on the loop's thread.
///
/// Why: a handler that calls agents (a ping, a VM sync) otherwise crosses threads at every await — the pool thread
/// that runs it, the event loop that does the HTTP exchange and completes the future, a pool thread again for the
/// continuation. Run on one of the agent client's loops (a request made there uses that loop's connections, see
/// `AgentConnectionPool`), the request, its response and the handler's next step stay on one thread. Only code
/// that never blocks may prefer it: it shares the thread with every connection of that loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop of `group`.
    public static func all(of group: any EventLoopGroup) -> [EventLoopTaskExecutor] {
        group.makeIterator().map(EventLoopTaskExecutor.init)
    }
}

extension EventLoopTaskExecutor {
    /// Whether the calling thread is an event loop's of a `MultiThreadedEventLoopGroup` (for checks of where code
    /// runs).
    public static var onEventLoopThread: Bool { MultiThreadedEventLoopGroup.currentEventLoop != nil }
}
