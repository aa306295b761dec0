/// Big-endian integer encoding for the on-disk structures.
enum BigEndian {
    static func put32(_ v: UInt32, _ buf: UnsafeMutableRawPointer, _ at: Int) {
        buf.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self)
    }
    static func put16(_ v: UInt16, _ buf: UnsafeMutableRawPointer, _ at: Int) {
        buf.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self)
    }
    static func put64(_ v: UInt64, _ buf: UnsafeMutableRawPointer, _ at: Int) {
        buf.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt64.self)
    }
    static func get32(_ buf: UnsafeRawPointer, _ at: Int) -> UInt32 {
        UInt32(bigEndian: buf.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }
    static func get16(_ buf: UnsafeRawPointer, _ at: Int) -> UInt16 {
        UInt16(bigEndian: buf.loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }
    static func bytes32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
