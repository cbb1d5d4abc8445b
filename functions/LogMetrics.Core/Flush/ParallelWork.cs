using System.Runtime.ExceptionServices;

namespace LogMetrics.Core.Flush;

/// <summary>Independent items run side by side (or one after another), failing as a plain loop would.</summary>
internal static class ParallelWork
{
    /// <summary>
    /// <paramref name="body"/> for every index, in parallel when <paramref name="parallel"/> and there is more than
    /// one; the first failure is thrown as itself, not wrapped in an <see cref="AggregateException"/>.
    /// </summary>
    public static void For(int count, bool parallel, Action<int> body)
    {
        if (!parallel || count < 2 || Environment.ProcessorCount < 2)
        {
            for (var i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            Parallel.For(0, count, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }
}
