drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  j json null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, j) select seq, json_object('n', seq, 'name', concat('nämé ', seq), 'tags', json_array('a', seq, null, true), 'q', 'say "hi"\n') from seq_1_to_150;
insert into gh_ost_test (i, j) values (0, null), (0, '{}'), (0, '[]'), (0, '"just a string"'), (0, '12.5'),
  (0, json_object('big', repeat('x', 20000), 'emoji', '😀')), (0, '{"nested": {"deep": [1, [2, [3, {"k": "v"}]]]}}');

drop event if exists gh_ost_test;
delimiter ;;
create event gh_ost_test
  on schedule every 1 second
  starts current_timestamp
  ends current_timestamp + interval 60 second
  on completion not preserve
  enable
  do
begin
  insert into gh_ost_test values (null, 1, json_object('t', now(6), 'r', rand()));
  insert into gh_ost_test values (null, 2, '{"a": [1, 2, 3], "b": {"c": null}}');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set j = json_set(coalesce(j, '{}'), '$.updated', true, '$.n', i * 2) where id = @id and json_type(coalesce(j, '{}')) = 'OBJECT';
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
