import AgentHTTP
import Foundation
import Primitives

/// kvmagent's answer to `/host/ping` (`PingResponse` in host_plugin.py): `success`/`error` like every agent
/// result, plus which host the agent believes it serves and its version.
public struct PingResponse: Sendable, Equatable {
    public var status: AgentResponseStatus
    /// The host uuid the agent was connected with; a different one means the agent belongs to another host record.
    public var hostUuid: String?
    /// The agent's version (ZStack records it for gray upgrades; kept here for logs).
    public var version: String?
    /// Where the agent sends its own commands to the management node (ZStack re-pushes host configuration when it
    /// changes; not done here).
    public var sendCommandURL: String?

    public init(status: AgentResponseStatus, hostUuid: String?, version: String?, sendCommandURL: String?) {
        self.status = status
        self.hostUuid = hostUuid
        self.version = version
        self.sendCommandURL = sendCommandURL
    }

    private struct Fields: Decodable {
        var hostUuid: String?
        var version: String?
        var sendCommandUrl: String?
    }

    /// Reads a callback body. Throws ``Malformed`` when it is not a JSON object or a named field has the wrong type.
    public init(json body: Data) throws {
        guard let status = AgentResponseStatus(json: body) else { throw Malformed(reason: "not a JSON object") }
        let fields: Fields
        do {
            fields = try JSONBytesDecoder.decode(Fields.self, from: body)
        } catch {
            throw Malformed(reason: "\(error)")
        }
        self.init(
            status: status, hostUuid: fields.hostUuid, version: fields.version, sendCommandURL: fields.sendCommandUrl)
    }

    public struct Malformed: Error, Sendable, Equatable {
        public var reason: String
    }
}
