/// Entry point: the whole program is one call (Swift 6 makes top-level code main-actor isolated).
@main
struct Main {
    static func main() { CLI.main() }
}
