import AgentHTTP
import Foundation
import Inventory
import Primitives

/// One `/host/ping` round trip to a host's kvmagent (the first step of ZStack's `KVMHost.pingHook`), judged the
/// way ZStack judges it: a transport failure, `success=false`, or an answer for another host uuid all fail it.
///
/// Not done here (ZStack does them after a good answer): recording the agent version for gray upgrades, and
/// re-pushing the host configuration when the agent's `sendCommandUrl` changed.
public struct KVMAgentPing: Sendable {
    /// kvmagent's async ping path.
    public static let path = "/host/ping"

    public let caller: AgentCaller

    public init(caller: AgentCaller) {
        self.caller = caller
    }

    /// Where `host`'s agent listens: its management IP and agent port.
    public static func endpoint(of host: HostRecord) -> AgentEndpoint {
        AgentEndpoint(host: host.managementIp, port: host.agentPort)
    }

    /// Pings `host` once and returns the agent's answer when it proves the agent alive and serving this host.
    ///
    /// - Parameters:
    ///   - attempt: 1-based, copied into the failure so errors say which try failed.
    ///   - timeout: the whole round trip (POST accepted and result called back).
    /// - Throws: ``PingFailure`` when the attempt failed; `CancellationError` when the calling task is cancelled
    ///   (never turned into a failure, so the worker's deadline handling sees it).
    public func attempt(
        _ host: HostRecord, attempt: Int, timeout: Duration, connectTimeout: Duration
    ) async throws -> PingResponse {
        let endpoint = Self.endpoint(of: host)
        func failure(_ cause: PingFailure.Cause) -> PingFailure {
            PingFailure(hostUuid: host.uuid, endpoint: endpoint, attempt: attempt, cause: cause)
        }
        let body: Data
        do {
            body = try await caller.callAsync(
                endpoint, path: Self.path, body: Self.command(hostUuid: host.uuid), timeout: timeout,
                connectTimeout: min(connectTimeout, timeout))
        } catch let error as AgentHTTPError {
            // A cancelled call may surface as a transport failure (its connection was closed under it):
            // cancellation wins, so the handler never reports a host down because the worker gave up.
            try Task.checkCancellation()
            throw failure(.agentUnreachable(error))
        }
        let response: PingResponse
        do {
            response = try PingResponse(json: body)
        } catch let malformed as PingResponse.Malformed {
            throw failure(.malformedResponse(malformed.reason))
        }
        guard response.status.success else { throw failure(.agentFailed(response.status.error)) }
        guard response.hostUuid == host.uuid else { throw failure(.hostUuidMismatch(reported: response.hostUuid)) }
        return response
    }

    /// `PingCmd {hostUuid}`. ZStack's command also carries kvmagent memory-usage thresholds; they are not sent here.
    static func command(hostUuid: String) -> Data {
        // A [String: String] always encodes.
        (try? JSONBytesEncoder.data(["hostUuid": hostUuid])) ?? Data()
    }
}
