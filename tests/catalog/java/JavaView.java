// What Iceberg's Java REST client sees of tables and namespaces the tests made with pyiceberg.
//
// Run as a single-file program (Java >= 17) with the Iceberg jars of the cached Trino on the
// classpath: java -cp '<trino>/plugin/iceberg/*' JavaView.java URI CREDENTIAL WAREHOUSE < idents
// Each stdin line is one identifier: its levels joined by \u001f (namespace levels, then the
// table). Each stdout line is a JSON object: the namespace's existence and properties, and the
// table as Java's TableMetadataParser parsed it (schema JSON, snapshots, properties), or the
// error Java raised.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SchemaParser;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.rest.RESTCatalog;

public class JavaView {
  public static void main(String[] args) throws Exception {
    ObjectMapper json = new ObjectMapper();
    Map<String, String> properties = new TreeMap<>();
    properties.put("uri", args[0]);
    properties.put("credential", args[1]);
    properties.put("warehouse", args[2]);
    // metadata comes inline in loadTable; no file is read, so no Hadoop is needed
    properties.put("io-impl", "org.apache.iceberg.inmemory.InMemoryFileIO");
    try (RESTCatalog catalog = new RESTCatalog()) {
      catalog.initialize("java", properties);
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isEmpty()) {
          continue;
        }
        List<String> levels = Arrays.asList(line.split("\u001f", -1));
        Namespace namespace = Namespace.of(levels.subList(0, levels.size() - 1).toArray(new String[0]));
        Map<String, Object> out = new TreeMap<>();
        out.put("identifier", levels);
        try {
          out.put("namespace-exists", catalog.namespaceExists(namespace));
          out.put("namespace-properties", catalog.loadNamespaceMetadata(namespace));
          TableIdentifier id = TableIdentifier.of(namespace, levels.get(levels.size() - 1));
          out.put("table-exists", catalog.tableExists(id));
          Table table = catalog.loadTable(id);
          out.put("schema", json.readTree(SchemaParser.toJson(table.schema())));
          List<Long> snapshots = new ArrayList<>();
          for (Snapshot snapshot : table.snapshots()) {
            snapshots.add(snapshot.snapshotId());
          }
          out.put("snapshots", snapshots);
          Snapshot current = table.currentSnapshot();
          out.put("current-snapshot-id", current == null ? null : current.snapshotId());
          out.put(
              "total-records",
              current == null ? "0" : current.summary().getOrDefault("total-records", "0"));
          out.put("properties", new TreeMap<>(table.properties()));
        } catch (RuntimeException e) {
          out.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        System.out.println(json.writeValueAsString(out));
      }
    }
  }
}
