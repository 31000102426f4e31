/// ZStack's `MdsStatus`: whether the management node's connect/ping cycle last reached an MDS. On the wire and in
/// the inventory it is the Java enum name.
///
/// Only the ping cycle (ZStack's, or an operator's update) changes it: MDS calls never do, they only remember
/// recent failures for ordering (see the ZBS module's failure memory).
public enum MdsStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case connecting = "Connecting"
    case connected = "Connected"
    case disconnected = "Disconnected"
}
