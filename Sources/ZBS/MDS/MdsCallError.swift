import CloudBus

/// Why an MDS call failed. Each case maps to the ZStack error the management node would build
/// (`ZbsStorageController.HttpCaller`), with every attempt's failure kept as a cause in attempt order.
public enum MdsCallError: Error, Sendable, Equatable, ErrorCodeConvertible, CustomStringConvertible {
    /// No MDS of the storage is Connected: failed before any HTTP request.
    case noConnectedMds(primaryStorageUuid: String)
    /// A pinned call's MDS is not among the Connected MDS: failed before any HTTP request.
    case mdsNotFound(addr: String, primaryStorageUuid: String)
    /// The storage has no such logical pool, so the path cannot be converted: failed before any HTTP request.
    case unknownLogicalPool(pool: String, primaryStorageUuid: String)
    /// An install path is not `zbs://<pool>/<volume>[@<snapshot>]`.
    case invalidInstallPath(String)
    /// The storage is not in this worker's inventory.
    case unknownPrimaryStorage(uuid: String)
    /// An MDS answered `success=false` (or an `error` text): final, no other MDS is tried. `message` is the
    /// agent's `error` text, verbatim. `earlier` are the failures of the attempts before it.
    case agentFailed(addr: String, path: String, message: String, earlier: [MdsAttemptFailure])
    /// An attempt of a call without try-next ran out of its deadline: final, because the request may have run.
    case attemptTimedOut(MdsAttemptFailure, earlier: [MdsAttemptFailure])
    /// The caller's own deadline passed before an MDS answered.
    case deadlineReached(path: String, attempts: [MdsAttemptFailure])
    /// Every candidate failed: "all MDS cannot execute http call[<path>]".
    case allFailed(path: String, attempts: [MdsAttemptFailure])
    /// A local problem that no other MDS can fix (the callback server is down).
    case local(path: String, reason: String)

    /// The attempts that failed before the call ended, in attempt order.
    public var attempts: [MdsAttemptFailure] {
        switch self {
        case .agentFailed(_, _, _, let earlier): earlier
        case .attemptTimedOut(let failure, let earlier): earlier + [failure]
        case .deadlineReached(_, let attempts), .allFailed(_, let attempts): attempts
        default: []
        }
    }

    public var errorCode: ErrorCode {
        var error: ErrorCode
        switch self {
        case .attemptTimedOut(let failure, _):
            error = SysError.timeout.error(failure.description)
        case .deadlineReached:
            error = SysError.timeout.error(description)
        default:
            error = SysError.operationError.error(description)
        }
        let causes: [MdsAttemptFailure]
        if case .attemptTimedOut(_, let earlier) = self { causes = earlier } else { causes = attempts }
        if !causes.isEmpty { error.causes = causes.map(\.errorCode) }
        return error
    }

    public var description: String {
        switch self {
        case .noConnectedMds(let uuid):
            "all MDS of ZBS primary storage[uuid:\(uuid)] are not in Connected state"
        case .mdsNotFound(let addr, let uuid):
            "not found MDS[\(addr)] among the Connected MDS of ZBS primary storage[uuid:\(uuid)]"
        case .unknownLogicalPool(let pool, let uuid):
            "cannot find physical pool of logical pool[\(pool)] in ZBS primary storage[uuid:\(uuid)]"
        case .invalidInstallPath(let path):
            "invalid ZBS install path[\(path)]: expected zbs://<logical pool>/<volume>[@<snapshot>]"
        case .unknownPrimaryStorage(let uuid):
            "ZBS primary storage[uuid:\(uuid)] not found in this worker's inventory"
        case .agentFailed(let addr, let path, let message, _):
            "MDS[\(addr)] \(path): operation error, because:\(message)"
        case .attemptTimedOut(let failure, _):
            failure.description
        case .deadlineReached(let path, let attempts):
            "no MDS answered http call[\(path)] before the message deadline (\(attempts.count) attempt(s) failed)"
        case .allFailed(let path, _):
            "all MDS cannot execute http call[\(path)]"
        case .local(let path, let reason):
            "cannot execute http call[\(path)]: \(reason)"
        }
    }
}
