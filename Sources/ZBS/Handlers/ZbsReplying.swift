import CloudBus

/// How every ZBS handler turns an outcome into a reply, and which executor key orders its messages.
///
/// Errors: a storage unknown to the inventory or an install path that is not `zbs://lp/vol[@snap]` is the
/// sender's fault: `BadRequest` (SYS.1007; the worker answers, dead-letters and acks). Every other
/// `ErrorCodeConvertible` failure (MDS errors SYS.1006/SYS.1001, conflicts, unattached volumes) becomes the
/// message's own reply with `success=false` and that error. `CancellationError` and inventory failures propagate
/// (the worker answers them with its generic error reply).
enum ZbsReplying {
    static func run<Reply: BusReply>(
        failed: (ErrorCode) -> Reply, _ body: () async throws -> Reply
    ) async throws -> HandlerOutput {
        do {
            return HandlerOutput(reply: try await body())
        } catch let error as MdsCallError {
            switch error {
            case .unknownPrimaryStorage, .invalidInstallPath:
                throw BadRequest(SysError.invalidArgument.error(error.description), reason: "zbs: \(error)")
            default:
                return HandlerOutput(reply: failed(error.errorCode))
            }
        } catch let error as any ErrorCodeConvertible {
            return HandlerOutput(reply: failed(error.errorCode))
        }
    }

    /// Operations on one volume (and its snapshots) run one at a time, in arrival order, whatever the storage:
    /// the key is the volume's `zbs://lp/vol` (snapshot dropped). An unparsable path keys on itself (the handler
    /// then rejects it).
    static func volumeKey(_ installPath: String) -> String {
        let volume = (try? ZbsInstallPath(parsing: installPath))?.volumePath.description ?? installPath
        return "zbs-volume:\(volume)"
    }

    /// Storage-wide operations (capacity, updates): one at a time per storage.
    static func storageKey(_ uuid: String) -> String { "zbs-storage:\(uuid)" }
}
