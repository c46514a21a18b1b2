import { Migration } from '@mikro-orm/migrations';

export class Migration20261125170821_payments_mail_jobs_webhooks extends Migration {

  override name = 'Migration20261125170821_payments_mail_jobs_webhooks';

  override up(): void | Promise<void> {
    this.addSql(`create table \`job_leases\` (\`job\` text not null primary key, \`holder\` text null, \`lease_until\` datetime not null, \`last_started_at\` datetime null, \`last_finished_at\` datetime null, \`last_outcome\` text null, \`last_details\` json null);`);

    this.addSql(`create table \`mail_outbox\` (\`id\` integer not null primary key autoincrement, \`dedupe_key\` text not null, \`kind\` text not null, \`recipient\` text not null, \`subject\` text not null, \`text_body\` text not null, \`html_body\` text not null, \`status\` text not null, \`attempts\` integer not null, \`next_attempt_at\` datetime not null, \`last_error\` text null, \`created_at\` datetime not null, \`sent_at\` datetime null);`);
    this.addSql(`create unique index \`mail_outbox_dedupe_key_unique\` on \`mail_outbox\` (\`dedupe_key\`);`);
    this.addSql(`create index \`mail_outbox_status_index\` on \`mail_outbox\` (\`status\`);`);
    this.addSql(`create index \`mail_outbox_next_attempt_at_index\` on \`mail_outbox\` (\`next_attempt_at\`);`);

    this.addSql(`create table \`webhook_endpoints\` (\`id\` integer not null primary key autoincrement, \`url\` text not null, \`events\` json not null, \`secret_sealed\` text not null, \`paused\` integer not null, \`description\` text null, \`created_at\` datetime not null, \`updated_at\` datetime not null);`);

    this.addSql(`create table \`webhook_deliveries\` (\`id\` integer not null primary key autoincrement, \`endpoint_id\` integer not null, \`event_id\` text not null, \`event_type\` text not null, \`payload\` json not null, \`status\` text not null, \`attempts\` integer not null, \`next_attempt_at\` datetime not null, \`last_status_code\` integer null, \`last_error\` text null, \`created_at\` datetime not null, \`delivered_at\` datetime null, constraint \`webhook_deliveries_endpoint_id_foreign\` foreign key (\`endpoint_id\`) references \`webhook_endpoints\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`webhook_deliveries_endpoint_id_index\` on \`webhook_deliveries\` (\`endpoint_id\`);`);
    this.addSql(`create index \`webhook_deliveries_status_index\` on \`webhook_deliveries\` (\`status\`);`);
    this.addSql(`create index \`webhook_deliveries_next_attempt_at_index\` on \`webhook_deliveries\` (\`next_attempt_at\`);`);
    this.addSql(`create unique index \`webhook_deliveries_endpoint_id_event_id_unique\` on \`webhook_deliveries\` (\`endpoint_id\`, \`event_id\`);`);

    this.addSql(`alter table \`plans\` add column \`paddle_prices\` json null;`);
  }

  override down(): void | Promise<void> {

    this.addSql(`drop table if exists \`job_leases\`;`);
    this.addSql(`drop table if exists \`mail_outbox\`;`);
    this.addSql(`drop table if exists \`webhook_endpoints\`;`);
    this.addSql(`drop table if exists \`webhook_deliveries\`;`);

    this.addSql(`alter table \`plans\` drop column \`paddle_prices\`;`);
  }

}
