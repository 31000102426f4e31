import KeyedExecution

/// Short names for asserting on outcomes (`JobOutcome` is not `Equatable` because `.threw` carries `any Error`).
enum OutcomeKind: Equatable, Sendable {
    case finished, threw, deadlineExceeded, expiredBeforeStart, rejected
}

extension JobOutcome {
    var kind: OutcomeKind {
        switch self {
        case .finished: .finished
        case .threw: .threw
        case .deadlineExceeded: .deadlineExceeded
        case .expiredBeforeStart: .expiredBeforeStart
        case .rejected: .rejected
        }
    }
}
