import AgentHTTP
import Foundation
import Inventory

/// One `/vm/vmsync` round trip to a host's kvmagent (ZStack's `VmSyncCmd`, an empty command, sent with
/// `X-Resource-UUID: <hostUuid>` like every KVMHost call).
public struct KVMAgentVmSync: Sendable {
    /// kvmagent's async VM-sync path.
    public static let path = "/vm/vmsync"

    public let caller: AgentCaller

    public init(caller: AgentCaller) {
        self.caller = caller
    }

    /// Asks `host`'s agent for the state of every VM it runs.
    ///
    /// - Parameter timeout: the whole round trip (POST accepted and result called back).
    /// - Throws: ``VmSyncFailure`` when no usable report came back; `CancellationError` when the calling task is
    ///   cancelled (never turned into a failure).
    public func report(
        of host: HostRecord, timeout: Duration, connectTimeout: Duration
    ) async throws -> VmSyncReport {
        let endpoint = KVMAgentPing.endpoint(of: host)
        func failure(_ cause: VmSyncFailure.Cause) -> VmSyncFailure {
            VmSyncFailure(hostUuid: host.uuid, endpoint: endpoint, cause: cause)
        }
        let body: Data
        do {
            body = try await caller.callAsync(
                endpoint, path: Self.path, body: Data("{}".utf8), timeout: timeout,
                connectTimeout: min(connectTimeout, timeout), headers: ["X-Resource-UUID": host.uuid])
        } catch let error as AgentHTTPError {
            try Task.checkCancellation()
            throw failure(.agentUnreachable(error))
        }
        guard let status = AgentResponseStatus(json: body) else {
            throw failure(.malformedResponse("not a JSON object"))
        }
        guard status.success else { throw failure(.agentFailed(status.error)) }
        do {
            return try VmSyncReport(json: body)
        } catch {
            throw failure(.malformedResponse("\(error)"))
        }
    }
}
