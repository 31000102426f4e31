import Foundation
import Primitives

/// kvmagent's answer to `/vm/vmsync` (`VmSyncResponse`): the state of every VM it sees on the host, by uuid, as
/// agent strings, and the VMs libvirt reports as going down (reported Running, listed in `vmInShutdowns`).
public struct VmSyncReport: Sendable, Equatable {
    /// VM uuid → agent state string (`Running`, `Shutdown`, `Paused`, `Crashed`, `NoState`, `Suspended`).
    public var states: [String: String]
    public var vmInShutdowns: [String]

    public init(states: [String: String] = [:], vmInShutdowns: [String] = []) {
        self.states = states
        self.vmInShutdowns = vmInShutdowns
    }

    private struct Fields: Decodable {
        var states: [String: String]?
        var vmInShutdowns: [String]?
    }

    /// Reads a successful callback body; absent or null `states` and `vmInShutdowns` read as empty.
    /// - Throws: `DecodingError` when a field has the wrong type.
    public init(json body: Data) throws {
        let fields = try JSONBytesDecoder.decode(Fields.self, from: body)
        self.init(states: fields.states ?? [:], vmInShutdowns: fields.vmInShutdowns ?? [])
    }
}
