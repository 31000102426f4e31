/// How much to allocate for a new root volume (ZStack `VmInstanceSpec.getRootDiskAllocateSize`, after ZSTAC-74683).
public enum RootVolumeSize {
    /// With a root disk offering: its size. Without: `max(image virtual size, image actual size)`, a missing actual
    /// size counting as 0 — some qcow2 images are larger than their virtual size (metadata, internal snapshots),
    /// and reserving only the virtual size over-commits the storage.
    public static func allocation(imageSize: Int64, imageActualSize: Int64?, offeringSize: Int64?) -> Int64 {
        if let offeringSize { return offeringSize }
        return max(imageSize, imageActualSize ?? 0)
    }
}
