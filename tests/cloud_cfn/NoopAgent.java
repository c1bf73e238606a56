// Stands in for LocalStack's own DynamoDB Local agent (ddb-local-loader), which LocalStack
// downloads from its artifacts repository at run time, out of reach here. That agent lifts
// DynamoDB Local's limit of 20 global secondary indexes; assetgate's table has none, so an
// agent that changes nothing keeps LocalStack's `java -javaagent:...` command working.
public class NoopAgent {
    public static void premain(String args, java.lang.instrument.Instrumentation instrumentation) {
    }
}
