using LogMetrics.Core.Parse;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// Dead letters go to the log (Application Insights traces): lane, sequence number, size and reason.
/// The raw event is not logged (access logs carry caller ids and IPs); (lane, sequence) finds it in the hub.
/// </summary>
internal sealed class LoggingDeadLetterSink(ILogger<LoggingDeadLetterSink> logger) : IDeadLetterSink
{
    public void Write(DeadLetter letter) => Log.DeadLetter(logger, letter.Lane, letter.Sequence, letter.Raw.Length, letter.Reason);
}
