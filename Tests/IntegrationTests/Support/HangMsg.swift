import CloudBus

/// `cloudbus.test.HangMsg`: a test-only message class (no Java class, no production handler), keyed
/// by `hostUuid` like a real host message. With `hang` true its handler never finishes on its own;
/// with `hang` false it answers at once — so a test can check that the key recovers.
struct HangMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.HangMsg"

    var hostUuid: String
    var hang: Bool
}
