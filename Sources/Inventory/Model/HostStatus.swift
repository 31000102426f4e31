/// The connection status of a host as ZStack records it (`HostStatus` in ZStack's header module).
///
/// The raw values are ZStack's wire and database spellings, so they round-trip through bus messages, the
/// inventory file and the store unchanged.
public enum HostStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case connecting = "Connecting"
    case connected = "Connected"
    case disconnected = "Disconnected"
}
