import TDEFSCore

@main
struct Main { static func main() {} }
