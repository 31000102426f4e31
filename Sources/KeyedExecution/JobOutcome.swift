/// How a job submitted to a ``KeyedSerialExecutor`` ended. Each job's completion receives exactly one outcome.
public enum JobOutcome: Sendable {
    /// The job's body returned normally.
    case finished
    /// The job's body threw; the key went on with its next job.
    case threw(any Error)
    /// The job was still running when its deadline passed. Its task was cancelled and the key went on with its next
    /// job without waiting for it; whatever the body does or returns afterwards is ignored.
    case deadlineExceeded
    /// The job's deadline had passed by the time its turn came; its body never ran.
    case expiredBeforeStart
    /// The executor refused the job and its body never ran: it was submitted after ``KeyedSerialExecutor/shutdown(_:)``,
    /// it was still queued when ``ShutdownMode/cancel`` discarded the queues, or the submitting task was cancelled
    /// while waiting for queue space.
    case rejected
}

extension JobOutcome {
    /// `true` when the job's body started (`.finished`, `.threw`, `.deadlineExceeded`).
    public var bodyStarted: Bool {
        switch self {
        case .finished, .threw, .deadlineExceeded: true
        case .expiredBeforeStart, .rejected: false
        }
    }
}
