import Glibc

/// An open directory of a read-only view: its listing taken once at opendir, so that readdir
/// offsets stay stable however the kernel splits the listing.
final class ReadOnlyDirectory: Sendable {
    struct Item: Sendable {
        let name: [UInt8]
        let inode: UInt64
        let type: UInt32
    }

    let items: [Item]

    init(items: [Item]) { self.items = items }
}
