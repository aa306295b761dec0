import TDEFSCore
