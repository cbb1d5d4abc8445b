using LogMetrics.Local;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>An output written through its temporary file replaces the file before it, whatever that file's size, and leaves nothing else.</summary>
public sealed class AtomicOutputTests : TempDirTests
{
    [Theory]
    // No file before; a small one (the rename frees it); one of 4 MiB (held for the kernel to free after the rename, DeferredRelease).
    [InlineData(-1)]
    [InlineData(1000)]
    [InlineData(4 << 20)]
    public void Commit_ReplacesTheFileBefore_AndLeavesNoTemporaryFile(int bytesBefore)
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "samples.jsonl");
        if (bytesBefore >= 0) File.WriteAllBytes(path, Enumerable.Repeat((byte)'o', bytesBefore).ToArray());
        using (var output = new AtomicOutput(path))
        {
            output.Stream.Write("{\"new\":1}\n"u8);
            // Until the commit the file before is untouched.
            Assert.Equal(bytesBefore, File.Exists(path) ? (int)new FileInfo(path).Length : -1);
            output.Commit();
        }
        Assert.Equal("{\"new\":1}\n", File.ReadAllText(path));
        Assert.Equal(["samples.jsonl"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }
}
