import { Migration } from '@mikro-orm/migrations';

export class Migration20261126045007_usage_batches extends Migration {

  override name = 'Migration20261126045007_usage_batches';

  override up(): void | Promise<void> {
    this.addSql(`create table \`usage_batches\` (\`id\` text not null primary key, \`events\` integer not null, \`created_at\` datetime not null);`);
    this.addSql(`create index \`usage_batches_created_at_index\` on \`usage_batches\` (\`created_at\`);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists \`usage_batches\`;`);
  }

}
