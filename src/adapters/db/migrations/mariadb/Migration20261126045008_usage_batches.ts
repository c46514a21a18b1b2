import { Migration } from '@mikro-orm/migrations';

export class Migration20261126045008_usage_batches extends Migration {

  override name = 'Migration20261126045008_usage_batches';

  override up(): void | Promise<void> {
    this.addSql(`create table \`usage_batches\` (\`id\` varchar(32) not null, \`events\` int not null, \`created_at\` datetime(3) not null, primary key (\`id\`)) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`usage_batches\` add index \`usage_batches_created_at_index\` (\`created_at\`);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists \`usage_batches\`;`);
  }

}
