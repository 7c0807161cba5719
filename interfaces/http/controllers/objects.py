"""Writing objects into a session: upload URLs, finalize, multipart, copy, delete."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from interfaces.http.controllers.object_reads import required as _required
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.resources import CopyDestination, CopySource, ObjectPath
from interfaces.http.schemas.catalog import BulkDeleteRequest, CompleteRequest, FinalizeRequest
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.objects import (
    CopiedObject,
    DeleteObjectsResponse,
    MultipartUpload,
    PartURL,
    StagedObject,
    UploadURL,
)


class ObjectsController(Controller):
    """Staging uploads, copies and deletions: `PUT/DELETE …/object`, `…/object/…`,
    `POST …/objects/delete`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}"
    tags = ["objects"]

    @put(
        "/object",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="putObject",
        sync_to_thread=True,
    )
    def upload(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
    ) -> UploadURL:
        grant = container.catalog.start_upload(
            org.org_id,
            repository,
            _required(session_id, "session_id"),
            object_path,
            principal,
        )
        return UploadURL(upload_url=grant.upload_url, upload_token=grant.upload_token)

    @post(
        "/object/finalize",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="finalizeObject",
        responses=errors(409),
        sync_to_thread=True,
    )
    def finalize(
        self,
        repository: FromPath[str],
        data: JSONBody[FinalizeRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
    ) -> StagedObject:
        staged = settled(
            container,
            container.catalog.finalize(
                org.org_id,
                repository,
                _required(session_id, "session_id"),
                object_path,
                upload_token=data.upload_token,
                checksum=data.checksum,
                size_bytes=data.size_bytes,
                content_type=data.content_type,
                metadata=data.metadata,
                principal=principal,
            ),
        )
        return StagedObject(**staged)

    @post(
        "/object/multipart",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="initiateMultipartUpload",
        status_code=200,
        sync_to_thread=True,
    )
    def start_multipart(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
    ) -> MultipartUpload:
        grant = container.catalog.start_multipart(
            org.org_id,
            repository,
            _required(session_id, "session_id"),
            object_path,
            principal,
        )
        return MultipartUpload(upload_id=grant.upload_id, upload_token=grant.upload_token)

    @get(
        "/object/multipart/part",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="getPartPresignedURL",
        sync_to_thread=True,
    )
    def part(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
        upload_id: FromQuery[str | None] = None,
        upload_token: FromQuery[str | None] = None,
        part_number: FromQuery[int | None] = None,
    ) -> PartURL:
        url = container.catalog.part_url(
            org.org_id,
            repository,
            _required(session_id, "session_id"),
            object_path,
            upload_id=_required(upload_id, "upload_id"),
            upload_token=upload_token or "",
            part_number=part_number if part_number is not None else 0,
        )
        return PartURL(upload_url=url)

    @post(
        "/object/multipart/complete",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="completeMultipartUpload",
        responses=errors(409),
        sync_to_thread=True,
    )
    def complete(
        self,
        repository: FromPath[str],
        data: JSONBody[CompleteRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
    ) -> StagedObject:
        staged = settled(
            container,
            container.catalog.complete_multipart(
                org.org_id,
                repository,
                _required(session_id, "session_id"),
                object_path,
                upload_id=data.upload_id,
                upload_token=data.upload_token,
                parts=[p.model_dump() for p in data.parts],
                size_bytes=data.size_bytes,
                content_type=data.content_type,
                metadata=data.metadata,
                principal=principal,
            ),
        )
        return StagedObject(**staged)

    @delete(
        "/object/multipart",
        opt={"action": "PutObject", "resource_path": "path"},
        operation_id="abortMultipartUpload",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def abort(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
        upload_id: FromQuery[str | None] = None,
        upload_token: FromQuery[str | None] = None,
    ) -> None:
        container.catalog.abort_multipart(
            org.org_id,
            repository,
            _required(session_id, "session_id"),
            object_path,
            upload_id=_required(upload_id, "upload_id"),
            upload_token=upload_token or "",
        )

    @post(
        "/object/copy",
        # The destination is written (PutObject); the guard checks GetObject on the source.
        opt={
            "action": "PutObject",
            "resource_path": "destination_path",
            "also_reads": "source_path",
        },
        operation_id="copyObject",
        responses=errors(409),
        sync_to_thread=True,
    )
    def copy(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        copy_source: CopySource,
        copy_destination: CopyDestination,
        session_id: FromQuery[str | None] = None,
    ) -> Response[CopiedObject]:
        settled(
            container,
            container.catalog.copy(
                org.org_id,
                repository,
                _required(session_id, "session_id"),
                source_path=copy_source,
                destination_path=copy_destination,
                principal=principal,
            ),
        )
        return Response(
            CopiedObject(source_path=copy_source, destination_path=copy_destination),
            status_code=HTTP_201_CREATED,
        )

    @delete(
        "/object",
        opt={"action": "DeleteObject", "resource_path": "path"},
        operation_id="deleteObject",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(409),
        sync_to_thread=True,
    )
    def remove(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
    ) -> None:
        settled(
            container,
            container.catalog.delete(
                org.org_id,
                repository,
                _required(session_id, "session_id"),
                [object_path],
                principal,
                require_existing=True,
            ),
        )

    @post(
        "/objects/delete",
        # The paths arrive in the body: the handler checks each one.
        opt={"action": "DeleteObject", "body_resource": "path"},
        operation_id="deleteObjects",
        status_code=200,
        responses=errors(409),
        sync_to_thread=True,
    )
    def remove_many(
        self,
        repository: FromPath[str],
        data: JSONBody[BulkDeleteRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        session_id: FromQuery[str | None] = None,
    ) -> DeleteObjectsResponse:
        for path in data.paths:  # the guard saw no path: check each one
            container.authorizer.authorize(
                principal, org.org_id, "DeleteObject", {"repository": repository, "path": path}
            )
        deleted = settled(
            container,
            container.catalog.delete(
                org.org_id,
                repository,
                _required(session_id, "session_id"),
                list(data.paths),
                principal,
                require_existing=False,
            ),
        )
        return DeleteObjectsResponse(deleted=deleted)
