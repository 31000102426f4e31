/// `value` as a `Target` when its type is exactly `Target`, else nil.
///
/// For a value behind an existential whose concrete type the hot path knows (the codec's own decoder and encoder,
/// a handler's message type): called from a protocol extension, `Value` is the opened dynamic type, so the test is
/// one comparison of type metadata. `as?` on the existential goes through the runtime's `swift_dynamicCast`, about
/// 250 instructions a call and eight calls per echo (callgrind). Subclasses do not match: only for value types and
/// final classes, where "is exactly" and "is a" agree.
@inlinable
public func identityCast<Value, Target>(_ value: Value, to _: Target.Type) -> Target? {
    guard Value.self == Target.self else { return nil }
    return unsafeBitCast(value, to: Target.self)
}
